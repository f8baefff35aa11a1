package executor

import (
	"cmp"
	"net/http"

	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apache/arrow/go/v15/arrow/flight"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/gctune"
	"github.com/ember-go/ember/internal/membership"
	"github.com/ember-go/ember/internal/program"
	"github.com/ember-go/ember/internal/replay"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/status"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
	"google.golang.org/grpc"
)

// DaemonConfig configures an executor daemon. DefaultDaemonConfig gives
// the defaults; the zero value of a field means its default.
type DaemonConfig struct {
	// Name must be unique in the cluster; "" means host name, process id
	// and a time stamp.
	Name string
	// GossipAddr is where membership gossip listens (UDP and TCP).
	GossipAddr string
	// RPCAddr is where the gRPC server listens: Arrow Flight for shuffle
	// blocks.
	RPCAddr string
	// AdvertiseHost is the host others reach this executor by, when the
	// listening addresses are unspecified (0.0.0.0) or behind NAT.
	AdvertiseHost string
	// Seeds are gossip addresses of members to join through.
	Seeds []string
	// JoinTimeout bounds the wait for a seed to answer; 0 means 10 s.
	JoinTimeout time.Duration
	// Cores is the number of task slots offered.
	Cores int
	// Memory is the number of bytes offered for tasks and cached blocks:
	// the executor's memory budget (see storage.MemoryManager). Zero
	// sizes it from the machine (storage.SizeBudget): a share of the
	// process's cgroup limit, GOMEMLIMIT or physical memory.
	Memory int64
	// Secret is the cluster secret; required unless every address is on
	// loopback.
	Secret []byte
	// WorkDir holds shuffle files and spilled blocks; "" means a new
	// temporary directory, removed on Close.
	WorkDir string
	// GossipProfile is "lan" or "local" (faster failure detection, for
	// loopback clusters).
	GossipProfile string
	// Logger receives the daemon's log; nil means slog.Default().
	Logger *slog.Logger
	// MaxBinarySize bounds a program uploaded by a driver; 0 means 1 GiB.
	MaxBinarySize int64
	// UploadIdleTimeout is how long an upload may go without sending a
	// chunk before it is cut off and its slot freed (two uploads run at
	// once); 0 means DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
	// TLS, if set, secures the RPC server (auth.TLSConfigs makes it), and
	// ClientTLS the executor's calls to other executors.
	TLS, ClientTLS *tls.Config
	// InsecureTransport serves and calls plain TCP when TLS and ClientTLS
	// are nil. Otherwise an executor with a secret and no certificates of
	// its own speaks mutual TLS with certificates derived from the secret
	// (auth.ClusterTLS).
	InsecureTransport bool
	// Insecure lets an executor that listens beyond loopback run without a
	// secret: anyone who reaches its ports can then run code on it.
	Insecure bool
	// MaxMessage bounds a message the RPC server receives; 0 means
	// auth.MaxMessage (256 MiB).
	MaxMessage int
	// MaxQueued bounds the tasks a driver may have launched on the
	// executor and not yet finished; more fail at once. 0 means 64 per
	// core. A driver sends no more than the executor's cores.
	MaxQueued int
	// MetricsAddr, if set, is where the executor serves Prometheus
	// /metrics, over plain HTTP: beyond loopback, only to readers with the
	// UI token derived from Secret (auth.UIToken).
	MetricsAddr string
	// GCMinHeap is the Go heap goal below which the garbage collector
	// does not run while the executor serves (see package gctune); 0
	// means gctune.DefaultFloor, negative leaves the collector alone.
	GCMinHeap int64

	// runner, if set, runs tasks instead of the program's registered
	// pipelines (see replay.Register); tests set it.
	runner replay.Runner
}

// DefaultDaemonConfig returns the defaults of DaemonConfig.
func DefaultDaemonConfig() DaemonConfig {
	return DaemonConfig{
		GossipAddr:    "0.0.0.0:7946",
		RPCAddr:       "0.0.0.0:7947",
		Cores:         runtime.NumCPU(),
		GossipProfile: "lan",
		GCMinHeap:     gctune.DefaultFloor,
	}
}

// Daemon is an executor process's service: it is a member of the cluster,
// advertising its cores, memory and RPC address, and serves its shuffle
// blocks to other executors over Arrow Flight, to callers that prove the
// cluster secret.
type Daemon struct {
	cfg     DaemonConfig
	member  *membership.Member
	server  *grpc.Server
	rpcAddr string // where the gRPC server listens, as others reach it
	// location is where others fetch the shuffle blocks that tasks here
	// write: rpcAddr, or for a worker its executor's.
	location string
	worker   bool
	// runner runs the tasks of the program's pipelines; nil refuses them
	// (the daemon then only serves shuffle blocks).
	runner   replay.Runner
	programs *programs // uploaded by drivers; nil for a worker
	shuffle  *shuffle.Manager
	blocks   *storage.Manager
	fetcher  *shuffle.RemoteFetcher
	env      *task.Env
	slots    chan struct{}  // one per core: tasks of all applications share them
	queue    chan struct{}  // one per task launched and not finished, bounded
	metrics  *daemonMetrics // nil unless served (MetricsAddr)
	httpSrv  *http.Server
	httpDone chan struct{}
	httpAddr string
	served   chan error
	gcDone   func()
	budget   *storage.MemoryManager
	// releaseBudget ends the budget's hold on the runtime's heap limit.
	releaseBudget func()
}

// StartDaemon starts an executor daemon and joins the cluster.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	cfg = cfg.withDefaults()
	gossipHost, gossipPort, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if err := cfg.secureTransport(); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = defaultName()
	}
	d := &Daemon{cfg: cfg, served: make(chan error, 1), slots: make(chan struct{}, cfg.Cores), queue: newQueue(cfg),
		runner: cmp.Or(cfg.runner, replay.Registered())}
	started := false
	defer func() {
		// On any way out short of success, a panic included, what was
		// started of the daemon is stopped again.
		if !started {
			d.Close()
		}
	}()
	if err := d.startServices(); err != nil {
		return nil, err
	}
	if err := d.join(ctx, gossipHost, gossipPort); err != nil {
		return nil, err
	}
	started = true
	cfg.Logger.Info("executor started", "name", d.member.Local().Name, "gossip", d.member.Addr(), "rpc", d.rpcAddr,
		"cores", cfg.Cores, "memory", cfg.Memory, "seeds", cfg.Seeds)
	return d, nil
}

// check reports what in c keeps a daemon from starting, and returns the
// host and port of its gossip address.
func (c DaemonConfig) check() (gossipHost string, gossipPort int, err error) {
	if c.Cores < 1 {
		return "", 0, fmt.Errorf("executor: %d cores: want at least one", c.Cores)
	}
	gossipHost, gossipPort, err = splitHostPort("gossip", c.GossipAddr)
	if err != nil {
		return "", 0, err
	}
	if err := c.checkSecret(); err != nil {
		return "", 0, err
	}
	return gossipHost, gossipPort, nil
}

// checkSecret refuses an executor without a secret that listens beyond
// loopback, unless c.Insecure says to run it anyway; it then warns.
func (c DaemonConfig) checkSecret() error {
	if len(c.Secret) != 0 || c.loopbackOnly() {
		return nil
	}
	if !c.Insecure {
		return errors.New("executor: a cluster secret is required unless the executor listens on loopback only (or is started insecure, which lets anyone who reaches it run code)")
	}
	c.Logger.Warn("executor started without a secret beyond loopback: anyone who reaches its ports can run code on it")
	return nil
}

// UseLocalSecret gives c the secret of the user's loopback cluster
// (auth.LocalSecret, made if there is none) when c has no secret, listens
// on loopback only and is not Insecure, and returns the file it is in;
// "" when c keeps what it has. Another local user can then neither join
// the cluster nor call its executors, while the user's drivers on this
// machine read the same file.
func (c *DaemonConfig) UseLocalSecret() (string, error) {
	if len(c.Secret) > 0 || c.Insecure || !c.withDefaults().loopbackOnly() {
		return "", nil
	}
	secret, file, err := auth.LocalSecret()
	if err != nil {
		return file, fmt.Errorf("executor: no secret given, and none for this user's loopback cluster: %w", err)
	}
	c.Secret = secret
	return file, nil
}

// loopbackOnly reports whether c listens on loopback alone, for gossip and
// for RPC: only local users reach it.
func (c DaemonConfig) loopbackOnly() bool {
	return membership.Loopback(hostOf(c.GossipAddr)) && membership.Loopback(hostOf(c.RPCAddr))
}

// secureTransport gives c TLS from its secret when it has no certificates
// of its own, unless c.InsecureTransport says plain TCP (and it warns).
func (c *DaemonConfig) secureTransport() error {
	switch {
	case c.TLS != nil || c.ClientTLS != nil || len(c.Secret) == 0:
		return nil
	case c.InsecureTransport:
		c.Logger.Warn("the executor serves and calls plain TCP (insecure transport): its traffic, tasks and data included, can be read on the network")
		return nil
	}
	var err error
	c.TLS, c.ClientTLS, err = auth.ClusterTLS(c.Secret, time.Now())
	return err
}

// defaultName is a member name no other process takes: the host name, the
// process id and the time.
func defaultName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano(), 36))
}

// startServices opens the daemon's stores and serves its RPC services,
// and its metrics if asked.
func (d *Daemon) startServices() error {
	lis, err := d.serve(shuffle.Config{Dir: subdir(d.cfg.WorkDir, "shuffle")})
	if err != nil {
		return err
	}
	d.location = d.rpcAddr
	d.env = d.taskEnv()
	if d.cfg.MetricsAddr != "" {
		d.metrics = newDaemonMetrics(d)
		if err := d.serveMetrics(d.cfg.MetricsAddr); err != nil {
			return err
		}
	}
	if d.programs, err = newPrograms(subdir(d.cfg.WorkDir, "programs"), d.cfg.MaxBinarySize, d.cfg.UploadIdleTimeout); err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	flight.RegisterFlightServiceServer(d.server, shuffle.NewFlightServer(d.shuffle).ServeCached(d.cachedBlock))
	rpc.RegisterExecutorServer(d.server, &taskService{d: d})
	go func() { d.served <- d.server.Serve(lis) }()
	return nil
}

// cachedBlock yields the records of a cached block, for Flight: a block on
// disk is read a record at a time, however large.
func (d *Daemon) cachedBlock(id string) (iter.Seq2[arrow.Record, error], bool, error) {
	_, recs, ok, err := d.blocks.Records(storage.BlockID(id))
	return recs, ok, err
}

// join makes the daemon a member of the cluster, gossiping at host and
// port.
func (d *Daemon) join(ctx context.Context, host string, port int) error {
	var err error
	if d.member, err = membership.Start(ctx, d.memberConfig(host, port)); err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	return nil
}

// memberConfig is the daemon's membership: what it tells the cluster it
// offers, and how it gossips.
func (d *Daemon) memberConfig(host string, port int) membership.Config {
	cfg := d.cfg
	return membership.Config{
		Name:          cfg.Name,
		BindAddr:      host,
		BindPort:      port,
		AdvertiseAddr: cfg.AdvertiseHost,
		Seeds:         cfg.Seeds,
		JoinTimeout:   cfg.JoinTimeout,
		Secret:        cfg.Secret,
		Profile:       cfg.GossipProfile,
		Logger:        cfg.Logger,
		Insecure:      cfg.Insecure,
		Meta: membership.Meta{
			Role: membership.Executor, RPCAddr: d.rpcAddr, Cores: cfg.Cores, Memory: cfg.Memory,
			BuildID: program.BuildID(), Instance: strconv.FormatInt(time.Now().UnixNano(), 36),
		},
	}
}

// serve makes the daemon's stores and its gRPC server, listening on
// cfg.RPCAddr, and returns the listener for the caller to serve on once
// the services are registered.
func (d *Daemon) serve(shuffleCfg shuffle.Config) (net.Listener, error) {
	cfg := d.cfg
	budget, size, release, err := storage.NewProcessBudget(cfg.Memory)
	if err != nil {
		return nil, fmt.Errorf("executor: --memory: %w", err)
	}
	d.budget, d.releaseBudget, d.cfg.Memory = budget, release, size.Total
	cfg.Logger.Info("memory budget", "bytes", size.Total, "source", size.Source, "heapLimit", size.HeapLimit)
	// After the heap limit, which the collector's floor stays under.
	d.gcDone = gctune.Start(cmp.Or(cfg.GCMinHeap, gctune.DefaultFloor))
	if d.blocks, err = storage.NewManager(storage.Config{MemoryLimit: size.Total, Budget: budget, Dir: subdir(cfg.WorkDir, "blocks")}); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	if d.shuffle, err = shuffle.NewManager(shuffleCfg); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.RPCAddr)
	if err != nil {
		return nil, fmt.Errorf("executor: listen for RPC on %s: %w", cfg.RPCAddr, err)
	}
	d.rpcAddr = advertised(lis.Addr().(*net.TCPAddr), cfg.AdvertiseHost)
	d.fetcher = d.newFetcher()
	d.server = grpc.NewServer(auth.ServerOptions(auth.ServerConfig{Secret: cfg.Secret,
		Names: serverNames(lis.Addr().(*net.TCPAddr), d.rpcAddr), TLS: cfg.TLS, MaxMessage: cfg.MaxMessage})...)
	return lis, nil
}

// newFetcher returns a fetcher of remote blocks with the daemon's
// credentials.
func (d *Daemon) newFetcher() *shuffle.RemoteFetcher {
	return shuffle.NewRemoteFetcher(auth.DialOptions(d.cfg.Secret, d.cfg.ClientTLS)...)
}

// taskEnv is what tasks run with; it needs d.location.
func (d *Daemon) taskEnv() *task.Env {
	return &task.Env{Blocks: d.blocks, Shuffle: d.shuffle, Fetcher: &blockFetcher{self: d.location, local: d.shuffle, remote: d.fetcher},
		RemoteCached: d.fetcher.FetchCached, Memory: d.budget, SpillDir: d.shuffle.Dir()}
}

// MetricsAddr is where the executor serves /metrics, or "".
func (d *Daemon) MetricsAddr() string { return d.httpAddr }

func (d *Daemon) serveMetrics(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("executor: listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	var h http.Handler = mux
	if host, _, _ := net.SplitHostPort(lis.Addr().String()); !membership.Loopback(host) {
		// Beyond loopback, only a reader with the token derived from
		// the secret, as a driver's UI asks (ember ui-token prints it).
		token, err := auth.UIToken(d.cfg.Secret)
		if err != nil {
			lis.Close()
			return err
		}
		h = status.TokenGuard(token, mux)
		d.cfg.Logger.Info("executor: /metrics listens beyond loopback and answers only with the UI token, as a bearer token (`ember ui-token` prints it)", "addr", lis.Addr().String())
	}
	d.httpSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.httpAddr, d.httpDone = lis.Addr().String(), make(chan struct{})
	go func() {
		defer close(d.httpDone)
		d.httpSrv.Serve(lis)
	}()
	return nil
}

// GossipAddr is the address other nodes can join through.
func (d *Daemon) GossipAddr() string { return d.member.Addr() }

// RPCAddr is the advertised address of the gRPC (Flight) server.
func (d *Daemon) RPCAddr() string { return d.rpcAddr }

func newQueue(cfg DaemonConfig) chan struct{} {
	n := cfg.MaxQueued
	if n <= 0 {
		n = 64 * max(cfg.Cores, 1)
	}
	return make(chan struct{}, n)
}

// Name returns the executor's member name in the cluster.
func (d *Daemon) Name() string { return d.cfg.Name }

// Done receives, once, the error with which the RPC server stopped serving
// (nil after Close).
func (d *Daemon) Done() <-chan error { return d.served }

// Close leaves the cluster, stops serving, and removes the daemon's files.
func (d *Daemon) Close() error {
	var errs []error
	if d.member != nil {
		errs = append(errs, d.member.Close(2*time.Second))
	}
	if d.server != nil {
		// Let running fetches finish, but not forever: a stalled reader
		// must not keep the executor from stopping.
		stopped := make(chan struct{})
		go func() { d.server.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			d.server.Stop()
			<-stopped
		}
	}
	if d.fetcher != nil {
		errs = append(errs, d.fetcher.Close())
	}
	if d.httpSrv != nil {
		d.httpSrv.Close()
		<-d.httpDone
	}
	if d.programs != nil {
		errs = append(errs, d.programs.close())
	}
	if d.shuffle != nil {
		errs = append(errs, d.shuffle.Close())
	}
	if d.blocks != nil {
		errs = append(errs, d.blocks.Close())
	}
	if d.gcDone != nil {
		d.gcDone()
	}
	if d.releaseBudget != nil {
		d.releaseBudget()
	}
	return errors.Join(errs...)
}

func (c DaemonConfig) withDefaults() DaemonConfig {
	d := DefaultDaemonConfig()
	c.GossipAddr = cmp.Or(c.GossipAddr, d.GossipAddr)
	c.RPCAddr = cmp.Or(c.RPCAddr, d.RPCAddr)
	c.Cores = cmp.Or(c.Cores, d.Cores)
	c.GCMinHeap = cmp.Or(c.GCMinHeap, d.GCMinHeap)
	c.Memory = cmp.Or(c.Memory, d.Memory)
	c.GossipProfile = cmp.Or(c.GossipProfile, d.GossipProfile)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// advertised returns the address others use to reach a listener: the
// advertise host if given, else the listening host unless it is
// unspecified, else this machine's first non-loopback address.
func advertised(addr *net.TCPAddr, advertiseHost string) string {
	port := strconv.Itoa(addr.Port)
	switch {
	case advertiseHost != "":
		return net.JoinHostPort(advertiseHost, port)
	case !addr.IP.IsUnspecified():
		return net.JoinHostPort(addr.IP.String(), port)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
				return net.JoinHostPort(ip.IP.String(), port)
			}
		}
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// serverNames are the addresses callers may dial the RPC server by, which
// its tokens must be made for: where it is advertised and listens, and for
// a server listening on every interface, each interface's address, the
// machine's host name and localhost, at its port.
func serverNames(addr *net.TCPAddr, advertised string) []string {
	names := []string{advertised, addr.String()}
	if !addr.IP.IsUnspecified() {
		return names
	}
	port := strconv.Itoa(addr.Port)
	hosts := []string{"localhost"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, ip.IP.String())
			}
		}
	}
	for _, h := range hosts {
		names = append(names, net.JoinHostPort(h, port))
	}
	return names
}

func splitHostPort(what, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("executor: %s address %q: %w", what, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("executor: %s address %q: bad port", what, addr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

func hostOf(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}

func subdir(dir, name string) string {
	if dir == "" {
		return ""
	}
	return dir + string(os.PathSeparator) + name
}
