package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
)

// TTL is how long a token stays valid after it is made.
const TTL = 30 * time.Second

// ClockSkew is how far the clocks of two nodes may differ: a token is
// accepted from ClockSkew before it is made (by the verifier's clock) to
// ClockSkew after it expires. Nodes keep their clocks within it (NTP).
const ClockSkew = 30 * time.Second

// header is the metadata key that carries the token.
const header = "authorization"

// ErrUnauthenticated is wrapped by every verification failure.
var ErrUnauthenticated = errors.New("unauthenticated")

// Claims are what a token is good for: one call, of one method, to one
// server, on one connection. A token is signed over them, so that a token
// captured from one call is refused for any other method, server or
// connection, and (by the verifier's replay cache) for the same one again.
type Claims struct {
	// Method is the gRPC method called, as "/package.Service/Method".
	Method string
	// Target is the server's address as its caller dialled it
	// (host:port): the call's HTTP/2 authority.
	Target string
	// Binding is keying material exported from the connection's TLS
	// session (ExportKeyingMaterial), nil on plain TCP: a token made for
	// one TLS connection is refused on any other.
	Binding []byte
	// App, if set, says that the token is signed with a key of App's
	// rather than a key of the cluster secret; servers refuse such tokens
	// unless told how to find the key (ServerConfig.AppKey).
	App string
}

// NewToken returns a token for one call with claims c, signed with key,
// valid until now+TTL: "v2.APP.EXPIRY.NONCE.MAC", where APP is the
// base64url of c.App (empty for a cluster key) and NONCE is random.
func NewToken(key []byte, c Claims, now time.Time) (string, error) {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	t := token{app: c.App, expiry: now.Add(TTL).Unix(), nonce: hex.EncodeToString(nonce[:])}
	t.mac = sign(key, t, c)
	return t.String(), nil
}

// token is a parsed token.
type token struct {
	app    string
	expiry int64
	nonce  string // 32 hex digits
	mac    string // 64 hex digits
}

func (t token) String() string {
	return strings.Join([]string{"v2", base64.RawURLEncoding.EncodeToString([]byte(t.app)),
		strconv.FormatInt(t.expiry, 10), t.nonce, t.mac}, ".")
}

// maxApp bounds the application id a token may name.
const maxApp = 256

// parseToken splits a token into its fields, checking their forms.
func parseToken(s string) (token, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 5 || parts[0] != "v2" {
		return token{}, fmt.Errorf("%w: malformed token (want v2.APP.EXPIRY.NONCE.MAC)", ErrUnauthenticated)
	}
	app, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || len(app) > maxApp {
		return token{}, fmt.Errorf("%w: malformed token: bad application", ErrUnauthenticated)
	}
	expiry, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return token{}, fmt.Errorf("%w: malformed token: bad expiry", ErrUnauthenticated)
	}
	if !isHex(parts[3], 32) || !isHex(parts[4], 64) {
		return token{}, fmt.Errorf("%w: malformed token: bad nonce or signature", ErrUnauthenticated)
	}
	return token{app: string(app), expiry: expiry, nonce: parts[3], mac: parts[4]}, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// sign is the token's MAC over its fields and the claims. Every field is
// length-prefixed, so that no two claims give the same input.
func sign(key []byte, t token, c Claims) string {
	mac := hmac.New(sha256.New, key)
	for _, field := range []string{"ember-rpc v2", t.app, strconv.FormatInt(t.expiry, 10), t.nonce,
		c.Method, c.Target, string(c.Binding)} {
		fmt.Fprintf(mac, "%d:%s|", len(field), field)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// checkTime refuses a token that has expired, or that claims to last
// longer than TTL, by the verifier's clock now, give or take ClockSkew.
func (t token) checkTime(now time.Time) error {
	expiry := time.Unix(t.expiry, 0)
	if now.After(expiry.Add(ClockSkew)) {
		return fmt.Errorf("%w: token expired %v ago (are the nodes' clocks within %v?)", ErrUnauthenticated, now.Sub(expiry).Round(time.Second), ClockSkew)
	}
	if expiry.After(now.Add(TTL + ClockSkew)) {
		return fmt.Errorf("%w: token valid for longer than %v (are the nodes' clocks within %v?)", ErrUnauthenticated, TTL, ClockSkew)
	}
	return nil
}

// Credentials attaches a fresh token to every call of a client connection,
// signed with the first key of secret, bound to the call's method, its
// target and its TLS connection: grpc.WithPerRPCCredentials.
func Credentials(secret []byte) credentials.PerRPCCredentials {
	var key []byte
	if keys := Keys(secret); len(keys) > 0 {
		key = keys[0]
	}
	return perRPC{key: key}
}

type perRPC struct {
	key []byte
	app string
}

func (p perRPC) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok {
		return nil, errors.New("auth: no request information to bind the token to")
	}
	if len(uri) == 0 {
		return nil, errors.New("auth: no target to bind the token to")
	}
	binding, err := tlsBinding(ri.AuthInfo)
	if err != nil {
		return nil, err
	}
	tok, err := NewToken(p.key, Claims{Method: ri.Method, Target: targetOf(uri[0]), Binding: binding, App: p.app}, time.Now())
	if err != nil {
		return nil, err
	}
	return map[string]string{header: "Bearer " + tok}, nil
}

// RequireTransportSecurity is false: a token proves the secret without
// revealing it and is good for one call only, so it may cross plain TCP
// (--insecure-transport); by default the connection is TLS.
func (p perRPC) RequireTransportSecurity() bool { return false }

// targetOf is the authority of a call's URI, "https://AUTHORITY/SERVICE",
// as gRPC gives it to credentials: the address the caller dialled, with
// gRPC's trimming of ":443" undone, so that both ends compare the same.
func targetOf(uri string) string {
	rest, _ := strings.CutPrefix(uri, "https://")
	authority, _, _ := strings.Cut(rest, "/")
	return normalTarget(authority)
}

// normalTarget is a target as both ends write it: host:port.
func normalTarget(authority string) string {
	if _, _, err := net.SplitHostPort(authority); err != nil {
		return authority + ":443"
	}
	return authority
}

// tlsBinding is the keying material that binds a token to the TLS
// connection of info, or nil for a connection without TLS.
func tlsBinding(info credentials.AuthInfo) ([]byte, error) {
	ti, ok := info.(credentials.TLSInfo)
	if !ok {
		return nil, nil
	}
	b, err := ti.State.ExportKeyingMaterial("EXPORTER-ember-token", nil, 32)
	if err != nil {
		return nil, fmt.Errorf("auth: cannot bind a token to the TLS connection: %w", err)
	}
	return b, nil
}
