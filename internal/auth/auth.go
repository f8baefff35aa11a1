// Package auth authenticates Ember's RPCs with the cluster secret. Every
// call carries a short-lived token, an HMAC-SHA256 of its expiry time keyed
// by the secret; servers check it in gRPC interceptors and answer
// Unauthenticated to a call without a valid one. The secret itself never
// travels.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultTTL is how long a token stays valid. Clocks of the nodes may
// differ by less than this.
const DefaultTTL = 5 * time.Minute

// MaxTTL bounds how far in the future a token may expire: DefaultTTL plus
// a minute of clock skew. A token made to last longer is refused, so that a
// captured one cannot be replayed for long.
const MaxTTL = DefaultTTL + time.Minute

// header is the metadata key that carries the token.
const header = "authorization"

// ErrUnauthenticated is wrapped by every verification failure.
var ErrUnauthenticated = errors.New("unauthenticated")

// NewToken returns a token valid until now+ttl.
func NewToken(secret []byte, now time.Time, ttl time.Duration) string {
	expiry := strconv.FormatInt(now.Add(ttl).Unix(), 10)
	return "v1." + expiry + "." + sign(secret, expiry)
}

// Verify checks that token was made with secret and has not expired.
func Verify(secret []byte, token string, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: the server has no secret", ErrUnauthenticated)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	expiry, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	if !hmac.Equal([]byte(parts[2]), []byte(sign(secret, parts[1]))) {
		return fmt.Errorf("%w: wrong secret", ErrUnauthenticated)
	}
	if now.Unix() > expiry {
		return fmt.Errorf("%w: token expired %v ago", ErrUnauthenticated, now.Sub(time.Unix(expiry, 0)).Round(time.Second))
	}
	if time.Unix(expiry, 0).After(now.Add(MaxTTL)) {
		return fmt.Errorf("%w: token valid for longer than %v", ErrUnauthenticated, MaxTTL)
	}
	return nil
}

func sign(secret []byte, expiry string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("ember-rpc|v1|" + expiry))
	return hex.EncodeToString(mac.Sum(nil))
}

// Credentials attaches a fresh token to every call of a client connection:
// grpc.WithPerRPCCredentials(auth.Credentials(secret)).
func Credentials(secret []byte) credentials.PerRPCCredentials { return perRPC{secret} }

type perRPC struct{ secret []byte }

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	return map[string]string{header: "Bearer " + NewToken(p.secret, time.Now(), DefaultTTL)}, nil
}

// RequireTransportSecurity is false: the token is worth DefaultTTL and
// proves the secret without revealing it; TLS, where configured, also
// hides the traffic.
func (p perRPC) RequireTransportSecurity() bool { return false }

// EnvSecret is the environment variable that holds the cluster secret when
// no file does.
const EnvSecret = "EMBER_SECRET"

// MinSecretLen is the shortest secret accepted.
const MinSecretLen = 16

// ReadSecret reads the cluster secret from file, or else from EMBER_SECRET,
// trimmed of surrounding space. Neither gives an empty secret, which only
// loopback clusters accept (the callers check). setting names the file's
// setting in errors ("--secret-file").
func ReadSecret(file, setting string) ([]byte, error) {
	source, text := EnvSecret, os.Getenv(EnvSecret)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", setting, err)
		}
		source, text = setting+" "+file, string(b)
	}
	secret := []byte(strings.TrimSpace(text))
	if len(secret) > 0 && len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%s: the secret has %d bytes, want at least %d", source, len(secret), MinSecretLen)
	}
	return secret, nil
}

// DialOptions returns the options of a client connection to an Ember
// server: a token on every call when secret is set, over plain TCP (TLS is
// the transport's business).
func DialOptions(secret []byte) []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if len(secret) > 0 {
		opts = append(opts, grpc.WithPerRPCCredentials(Credentials(secret)))
	}
	return opts
}

// ServerOptions returns the interceptors that refuse unauthenticated unary
// and streaming calls.
func ServerOptions(secret []byte) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx, secret); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context(), secret); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

// check verifies the token of an incoming call.
func check(ctx context.Context, secret []byte) error {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(header)
	if len(values) == 0 {
		return status.Error(codes.Unauthenticated, "ember: no credentials: the call needs the cluster secret")
	}
	token, ok := strings.CutPrefix(values[0], "Bearer ")
	if !ok {
		return status.Error(codes.Unauthenticated, "ember: malformed credentials")
	}
	if err := Verify(secret, token, time.Now()); err != nil {
		return status.Error(codes.Unauthenticated, "ember: "+err.Error())
	}
	return nil
}
