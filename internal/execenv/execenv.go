// Package execenv names the environment of a process started as an
// executor: a local-cluster driver sets it for the executor processes it
// starts, and an executor started that way reads it. An operator may set
// it to start a program as an executor of a standalone cluster.
package execenv

import "github.com/ember-go/ember/internal/auth"

// The variables.
const (
	Executor      = "EMBER_EXECUTOR"        // non-empty: run as an executor
	Join          = "EMBER_JOIN"            // gossip seeds, host:port,…
	Bind          = "EMBER_BIND"            // gossip address, default 0.0.0.0:7946
	RPCBind       = "EMBER_RPC_BIND"        // RPC address, default 0.0.0.0:7947
	Advertise     = "EMBER_ADVERTISE"       // host others reach it by
	Cores         = "EMBER_CORES"           // task slots, default the CPU count
	Memory        = "EMBER_MEMORY"          // e.g. 4g, default 1g
	Secret        = auth.EnvSecret          // the cluster secret
	Name          = "EMBER_NAME"            // member name
	WorkDir       = "EMBER_WORK_DIR"        // shuffle files and spilled blocks
	GossipProfile = "EMBER_GOSSIP_PROFILE"  // lan or local
	LogLevel      = "EMBER_LOG_LEVEL"       // debug, info, warn or error
	TLSCert       = "EMBER_TLS_CERT"        // PEM files of the executor's TLS
	TLSKey        = "EMBER_TLS_KEY"         // certificate, key,
	TLSCA         = "EMBER_TLS_CA"          // and the cluster's CA
	TLSClientAuth = "EMBER_TLS_CLIENT_AUTH" // "true": require client certificates
	// WatchStdin makes the executor exit when its standard input closes:
	// a local cluster's executors end with their driver, however it ends.
	WatchStdin = "EMBER_WATCH_STDIN"
)
