// Package auth authenticates Ember's RPCs with the cluster secret. Every
// call carries a token of its own (NewToken): an HMAC-SHA256, keyed by the
// secret, over a random nonce, an expiry TTL ahead, the method called, the
// server's address and the TLS connection. Servers check it when they
// accept a call's stream, from its headers, and answer Unauthenticated to a
// call without a valid one before reading any of its message; a token seen
// before is refused (Verifier), so a captured one is worth nothing. The
// secret itself never travels. The package also sets what a server's
// connections may cost (ServerOptions).
package auth

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Keys splits a secret into its keys, one per line: the first is the one
// in use, the others are still accepted. A cluster rotates its secret by
// adding the new key to every node's secret as a second line, then moving
// it to the first line everywhere, then dropping the old one: every step
// leaves all nodes able to talk to each other.
func Keys(secret []byte) [][]byte {
	var keys [][]byte
	for line := range strings.Lines(string(secret)) {
		if k := strings.TrimSpace(line); k != "" {
			keys = append(keys, []byte(k))
		}
	}
	return keys
}

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
		if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
			slog.Warn("the secret file can be read by others than its owner: chmod 600 it", "file", file, "mode", fi.Mode().Perm().String())
		}
		source, text = setting+" "+file, string(b)
	}
	secret := []byte(strings.TrimSpace(text))
	for i, key := range Keys(secret) {
		if len(key) < MinSecretLen {
			return nil, fmt.Errorf("%s: key %d of the secret has %d bytes, want at least %d", source, i+1, len(key), MinSecretLen)
		}
	}
	return secret, nil
}

// MaxMessage bounds a gRPC message an Ember server or client receives:
// a task's definition with the results it depends on, a task's result, a
// record batch of a block, a chunk of an upload.
const MaxMessage = 256 << 20

// DialOptions returns the options of a client connection to an Ember
// server: a token on every call when secret is set, over TLS when tc is
// set (plain TCP otherwise).
func DialOptions(secret []byte, tc *tls.Config) []grpc.DialOption {
	transport := insecure.NewCredentials()
	if tc != nil {
		transport = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessage), grpc.MaxCallSendMsgSize(MaxMessage))}
	if len(secret) > 0 {
		opts = append(opts, grpc.WithPerRPCCredentials(Credentials(secret)))
	}
	return opts
}

// TLSConfigs loads the TLS configuration of a node: its certificate and key
// (PEM files) and the CA that signed the cluster's certificates. The server
// side always presents the certificate, and with requireClientCert accepts
// only clients with a certificate the CA signed (mutual TLS); the client
// side trusts the CA alone, and presents the certificate when given one.
// All three files empty means no TLS: nil, nil.
func TLSConfigs(certFile, keyFile, caFile string, requireClientCert bool) (server, client *tls.Config, err error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		if requireClientCert {
			return nil, nil, errors.New("tls: client certificates are required, but no certificate, key or CA is given")
		}
		return nil, nil, nil
	}
	if caFile == "" {
		return nil, nil, errors.New("tls: a CA file is needed to verify the other nodes")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("tls: %s holds no PEM certificate", caFile)
	}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile == "" && keyFile == "" {
		return nil, client, nil // a driver without a certificate of its own
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	client.Certificates = []tls.Certificate{cert}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		server.ClientAuth, server.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	return server, client, nil
}

// LocalSecretFile is where a user's loopback cluster keeps the secret
// that LocalSecret makes: ember/secret under the user's configuration
// directory (os.UserConfigDir, $XDG_CONFIG_HOME or ~/.config on Linux).
func LocalSecretFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory to keep a secret in: %w", err)
	}
	return filepath.Join(dir, "ember", "secret"), nil
}

// ReadLocalSecret returns the secret of the user's loopback cluster, from
// LocalSecretFile, or nil if there is none yet.
func ReadLocalSecret() (secret []byte, file string, err error) {
	if file, err = LocalSecretFile(); err != nil {
		return nil, "", err
	}
	secret, err = ReadSecret(file, "the local secret")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, file, nil
	case err == nil && len(secret) == 0:
		return nil, file, fmt.Errorf("the local secret %s is empty: remove it, and a new one is made", file)
	}
	return secret, file, err
}

// LocalSecret returns the secret of the user's loopback cluster, from
// LocalSecretFile, making it first if there is none: 32 random bytes,
// hex-encoded, in a file only the user may read (0600, in a 0700
// directory). Another local user can then not join the cluster nor call
// its executors. Processes that start at once agree on one secret: the
// file is made whole under another name and linked into place.
func LocalSecret() (secret []byte, file string, err error) {
	if secret, file, err = ReadLocalSecret(); err != nil || secret != nil {
		return secret, file, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, file, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, file, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".secret-*")
	if err != nil {
		return nil, file, err
	}
	defer os.Remove(tmp.Name())
	_, werr := fmt.Fprintln(tmp, hex.EncodeToString(b))
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Close()); err != nil {
		return nil, file, err
	}
	if err := os.Link(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, file, err
	}
	secret, err = ReadSecret(file, "the local secret")
	return secret, file, err
}
