// Package execenv names the environment of a process started as an
// executor: a local-cluster driver sets it for the executor processes it
// starts, and an executor started that way reads it. An operator may set
// it to start a program as an executor of a standalone cluster.
package execenv

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ember-go/ember/internal/auth"
)

// The variables.
const (
	Executor  = "EMBER_EXECUTOR"  // non-empty: run as an executor
	Join      = "EMBER_JOIN"      // gossip seeds, host:port,…
	Bind      = "EMBER_BIND"      // gossip address, default 0.0.0.0:7946
	RPCBind   = "EMBER_RPC_BIND"  // RPC address, default 0.0.0.0:7947
	Advertise = "EMBER_ADVERTISE" // host others reach it by
	Cores     = "EMBER_CORES"     // task slots, default the CPU count
	Memory    = "EMBER_MEMORY"    // e.g. 4g, default 1g
	Secret    = auth.EnvSecret    // the cluster secret (never set for a child: see SecretOnStdin)
	// SecretOnStdin says that the secret is the first line of standard
	// input, hex-encoded (ReadSecretLine): a parent gives its child the
	// secret through a pipe, which other processes of the user cannot
	// read, rather than its environment, which they can (/proc/PID/environ).
	SecretOnStdin = "EMBER_SECRET_ON_STDIN"
	Name          = "EMBER_NAME"           // member name
	WorkDir       = "EMBER_WORK_DIR"       // shuffle files and spilled blocks
	GossipProfile = "EMBER_GOSSIP_PROFILE" // lan or local
	LogLevel      = "EMBER_LOG_LEVEL"      // debug, info, warn or error
	// InsecureTransport, "true", serves and calls plain TCP; otherwise an
	// executor without TLS files speaks TLS derived from the secret.
	InsecureTransport = "EMBER_INSECURE_TRANSPORT"
	TLSCert           = "EMBER_TLS_CERT"        // PEM files of the executor's TLS
	TLSKey            = "EMBER_TLS_KEY"         // certificate, key,
	TLSCA             = "EMBER_TLS_CA"          // and the cluster's CA
	TLSClientAuth     = "EMBER_TLS_CLIENT_AUTH" // "true": require client certificates
	// WatchStdin makes the executor exit when its standard input closes:
	// a local cluster's executors end with their driver, however it ends.
	WatchStdin = "EMBER_WATCH_STDIN"
)

// ChildEnv is the environment of a child process: this process's, without
// the cluster secret, plus extra.
func ChildEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, Secret+"=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// WriteSecretLine writes secret to a child's standard input, as
// ReadSecretLine reads it.
func WriteSecretLine(w io.Writer, secret []byte) error {
	_, err := fmt.Fprintf(w, "%s\n", hex.EncodeToString(secret))
	return err
}

// maxSecretLine bounds the line ReadSecretLine reads.
const maxSecretLine = 64 << 10

// ReadSecretLine reads the first line of r, where a parent wrote the
// secret (WriteSecretLine), one byte at a time: what follows the line is
// not read, as it is the parent's (an executor closes it to stop a child).
func ReadSecretLine(r io.Reader) ([]byte, error) {
	var line []byte
	for b := make([]byte, 1); ; {
		n, err := r.Read(b)
		if n == 1 && b[0] == '\n' {
			break
		}
		if n == 1 {
			line = append(line, b[0])
		}
		if len(line) > maxSecretLine {
			return nil, fmt.Errorf("the secret line on standard input is longer than %d bytes", maxSecretLine)
		}
		if err != nil {
			return nil, fmt.Errorf("the secret on standard input: %w", err)
		}
	}
	secret, err := hex.DecodeString(string(line))
	if err != nil {
		return nil, fmt.Errorf("the secret on standard input is malformed: %w", err)
	}
	return secret, nil
}
