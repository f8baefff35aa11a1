package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/bytesize"
	"github.com/spf13/cobra"
)

const executorLong = `Run an executor daemon. It joins the cluster by gossip through the --join
seeds (none: it starts a new cluster that others join through it), advertises
its cores, memory and RPC address, and serves its shuffle blocks over Arrow
Flight to callers that prove the cluster secret. It runs until interrupted
(SIGINT or SIGTERM), then leaves the cluster gracefully.

The secret comes from --secret-file or the EMBER_SECRET environment variable,
never from a flag value; it is required unless every address is on loopback
(or --insecure is given). A secret file may hold several keys, one per line:
the first is used, all are accepted (rotation; see docs/security.md).
With --tls-cert, --tls-key and --tls-ca the RPC port (tasks and Arrow Flight)
speaks TLS; --tls-client-auth makes it mutual.

Examples:
  ember executor --bind 10.0.0.2:7946 --rpc-bind 10.0.0.2:7947 --join 10.0.0.1:7946 \
      --cores 16 --memory 48g --secret-file /etc/ember/secret
  ember executor --bind 127.0.0.1:7946 --rpc-bind 127.0.0.1:7947   # a loopback cluster`

func newExecutor() *cobra.Command {
	var flags executorFlags
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Run an executor daemon: join the cluster and serve shuffle blocks",
		Long:  executorLong,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return flags.run(cmd) },
	}
	flags.register(cmd)
	return cmd
}

// executorFlags holds the flags of ember executor. Those that map onto a
// field of executor.DaemonConfig are parsed into cfg; the others are kept
// as given, to be read (a secret file, TLS files) or parsed when the
// command runs.
type executorFlags struct {
	cfg        executor.DaemonConfig
	join       string
	memory     string
	secretFile string
	tlsCert    string
	tlsKey     string
	tlsCA      string
	clientAuth bool
}

// register defines the flags on cmd, defaulting to what the daemon does.
func (e *executorFlags) register(cmd *cobra.Command) {
	d := executor.DefaultDaemonConfig()
	f := cmd.Flags()
	f.StringVar(&e.join, "join", "", "gossip addresses (host:port,…) of cluster members to join through")
	f.StringVar(&e.cfg.GossipAddr, "bind", d.GossipAddr, "address for gossip (UDP and TCP)")
	f.StringVar(&e.cfg.RPCAddr, "rpc-bind", d.RPCAddr, "address for the RPC (Arrow Flight) server")
	f.StringVar(&e.cfg.AdvertiseHost, "advertise", "", "host other nodes reach this one by (default: the bind host, or a local address)")
	f.StringVar(&e.cfg.Name, "name", "", "node name, unique in the cluster (default: host, pid and time)")
	f.IntVar(&e.cfg.Cores, "cores", 0, "task slots offered (default: the CPU count)")
	f.StringVar(&e.memory, "memory", "0", "memory offered for tasks and cached blocks: the executor's memory budget; 0 sizes it at 40% of the cgroup limit, GOMEMLIMIT or physical memory")
	f.StringVar(&e.secretFile, "secret-file", "", "file holding the cluster secret (or set EMBER_SECRET)")
	f.StringVar(&e.cfg.WorkDir, "work-dir", "", "directory for shuffle files and spilled blocks (default: a temporary one)")
	f.StringVar(&e.cfg.GossipProfile, "gossip-profile", d.GossipProfile, "lan, or local for fast failure detection on one machine")
	f.DurationVar(&e.cfg.JoinTimeout, "join-timeout", 10*time.Second, "how long to wait for a seed to answer")
	f.StringVar(&e.tlsCert, "tls-cert", "", "PEM certificate of this executor, for TLS on its RPC port")
	f.StringVar(&e.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	f.StringVar(&e.tlsCA, "tls-ca", "", "PEM certificate of the CA that signed the cluster's certificates")
	f.BoolVar(&e.clientAuth, "tls-client-auth", false, "accept only callers with a certificate signed by --tls-ca (mutual TLS)")
	f.StringVar(&e.cfg.MetricsAddr, "metrics-bind", "", "address to serve Prometheus /metrics on (plain HTTP; beyond loopback it asks for the token `ember ui-token` prints; e.g. 127.0.0.1:9100)")
	f.DurationVar(&e.cfg.UploadIdleTimeout, "upload-idle-timeout", executor.DefaultUploadIdleTimeout, "how long an upload of a driver's program may send nothing before it is cut off")
	f.BoolVar(&e.cfg.InsecureTransport, "insecure-transport", false, "serve and call plain TCP instead of TLS derived from the secret: the traffic can be read on the network")
	f.BoolVar(&e.cfg.Insecure, "insecure", false, "allow running beyond loopback without a secret: anyone who reaches the ports can run code")
}

// run starts the daemon and serves until the command's context ends (an
// interrupt) or the daemon stops by itself.
func (e *executorFlags) run(cmd *cobra.Command) error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	daemon, err := executor.StartDaemon(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "executor %s: gossip %s, rpc %s\n", daemon.Name(), daemon.GossipAddr(), daemon.RPCAddr())
	select {
	case <-cmd.Context().Done():
	case err = <-daemon.Done():
	}
	return errors.Join(err, daemon.Close())
}

// config completes the daemon's configuration with what the flags name
// rather than give: the memory size, the secret, the TLS configurations
// and the seeds.
func (e *executorFlags) config() (executor.DaemonConfig, error) {
	cfg := e.cfg
	var err error
	if cfg.Memory, err = bytesize.Parse(e.memory); err != nil {
		return cfg, fmt.Errorf("--memory: %w", err)
	}
	if cfg.UploadIdleTimeout <= 0 {
		return cfg, fmt.Errorf("--upload-idle-timeout is %v: want a positive duration", cfg.UploadIdleTimeout)
	}
	if cfg.Secret, err = auth.ReadSecret(e.secretFile, "--secret-file"); err != nil {
		return cfg, err
	}
	if file, err := cfg.UseLocalSecret(); err != nil {
		return cfg, err
	} else if file != "" {
		slog.Info("no secret given: using this user's loopback cluster secret; drivers of this user on this machine read it too", "file", file)
	}
	if cfg.TLS, cfg.ClientTLS, err = auth.TLSConfigs(e.tlsCert, e.tlsKey, e.tlsCA, e.clientAuth); err != nil {
		return cfg, err
	}
	if cfg.TLS == nil && cfg.ClientTLS != nil {
		return cfg, errors.New("--tls-ca needs --tls-cert and --tls-key: an executor serves TLS with its own certificate")
	}
	if e.join != "" {
		cfg.Seeds = strings.Split(e.join, ",")
	}
	return cfg, nil
}
