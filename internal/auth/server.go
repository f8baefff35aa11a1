package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Limits of an Ember gRPC server on what a connection may cost before and
// after it proves the secret.
const (
	// MaxHeaderBytes bounds the headers of a call, all that a server reads
	// of a call before its token is checked.
	MaxHeaderBytes = 16 << 10
	// MaxStreamsPerConn bounds the calls one connection has open at once;
	// a client past it waits for one to end.
	MaxStreamsPerConn = 1024
	// HandshakeTimeout bounds how long a new connection may take to
	// finish its TLS and HTTP/2 handshakes.
	HandshakeTimeout = 10 * time.Second
	// MaxConnectionIdle is how long a connection without calls stays open.
	MaxConnectionIdle = 5 * time.Minute
	// KeepaliveMinTime is the shortest interval between a client's pings
	// that a server tolerates; a client that pings more often is cut off.
	KeepaliveMinTime = 10 * time.Second
)

// ServerConfig is what an Ember gRPC server authenticates with.
type ServerConfig struct {
	// Secret holds the keys a call's token may be signed with (see Keys);
	// empty means calls are not authenticated.
	Secret []byte
	// Names are the addresses callers dial the server by (host:port): a
	// token made for another server is refused. Empty accepts any.
	Names []string
	// TLS, if set, is the server's TLS configuration.
	TLS *tls.Config
	// MaxMessage bounds a message the server receives; 0 means MaxMessage.
	MaxMessage int
}

// ServerOptions returns the options of an Ember gRPC server:
//   - with a secret, every call's token is checked when its stream is
//     accepted (grpc.InTapHandle), from its headers alone, so that a
//     caller without the secret is refused before any of its message is
//     read: an unauthenticated call costs the server its headers, at most
//     MaxHeaderBytes;
//   - TLS, when c.TLS is set;
//   - the largest message it receives, the limits above, and a handler
//     that panics fails its call with Internal instead of ending the
//     process.
func ServerOptions(c ServerConfig) []grpc.ServerOption {
	maxMessage := c.MaxMessage
	if maxMessage <= 0 {
		maxMessage = MaxMessage
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(MaxMessage),
		grpc.MaxHeaderListSize(MaxHeaderBytes),
		grpc.MaxConcurrentStreams(MaxStreamsPerConn),
		grpc.ConnectionTimeout(HandshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: MaxConnectionIdle}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(recoverUnary),
		grpc.ChainStreamInterceptor(recoverStream),
	}
	if c.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.TLS)))
	}
	if keys := Keys(c.Secret); len(keys) > 0 {
		v := &Verifier{Keys: keys, Names: c.Names}
		opts = append(opts, grpc.InTapHandle(func(ctx context.Context, info *tap.Info) (context.Context, error) {
			return ctx, v.checkCall(ctx, info)
		}))
	}
	return opts
}

// checkCall verifies the token in the headers of an incoming call, for
// its method, the authority it was sent to and its connection.
func (v *Verifier) checkCall(ctx context.Context, info *tap.Info) error {
	values := info.Header.Get(header)
	if len(values) == 0 {
		return status.Error(codes.Unauthenticated, "ember: no credentials: the call needs the cluster secret")
	}
	tok, ok := strings.CutPrefix(values[0], "Bearer ")
	if !ok {
		return status.Error(codes.Unauthenticated, "ember: malformed credentials")
	}
	c := Claims{Method: info.FullMethodName}
	if a := info.Header.Get(":authority"); len(a) == 1 {
		c.Target = normalTarget(a[0])
	}
	if p, ok := peer.FromContext(ctx); ok {
		var err error
		if c.Binding, err = tlsBinding(p.AuthInfo); err != nil {
			return status.Error(codes.Unauthenticated, "ember: "+err.Error())
		}
	}
	if err := v.Verify(tok, c, time.Now()); err != nil {
		return status.Error(codes.Unauthenticated, "ember: "+err.Error())
	}
	return nil
}

func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (_ any, err error) {
	defer Recover(info.FullMethod, &err)
	return h(ctx, req)
}

func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer Recover(info.FullMethod, &err)
	return h(srv, ss)
}

// Recover, deferred in a goroutine that serves a request, turns a panic
// into an Internal error for that request (in *err), logged with its
// stack, so that one bad request never ends the process. what names the
// request in the error.
func Recover(what string, err *error) {
	v := recover()
	if v == nil {
		return
	}
	slog.Error("a request panicked", "request", what, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if err != nil {
		*err = status.Errorf(codes.Internal, "ember: %s failed: %v", what, v)
	}
}
