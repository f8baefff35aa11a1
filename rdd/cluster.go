package rdd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ember-go/ember/internal/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/bytesize"
	"github.com/ember-go/ember/internal/membership"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
)

// The environment of a process started as an executor by Init. A
// local-cluster master sets it for the executors it starts; an operator
// may set it to start a program as an executor of a standalone cluster.
const (
	EnvExecutor      = "EMBER_EXECUTOR"        // non-empty: run as an executor
	EnvJoin          = "EMBER_JOIN"            // gossip seeds, host:port,…
	EnvBind          = "EMBER_BIND"            // gossip address, default 0.0.0.0:7946
	EnvRPCBind       = "EMBER_RPC_BIND"        // RPC address, default 0.0.0.0:7947
	EnvAdvertise     = "EMBER_ADVERTISE"       // host others reach it by
	EnvCores         = "EMBER_CORES"           // task slots, default the CPU count
	EnvMemory        = "EMBER_MEMORY"          // e.g. 4g, default 1g
	EnvSecret        = auth.EnvSecret          // the cluster secret
	EnvName          = "EMBER_NAME"            // member name
	EnvWorkDir       = "EMBER_WORK_DIR"        // shuffle files and spilled blocks
	EnvGossipProfile = "EMBER_GOSSIP_PROFILE"  // lan or local
	EnvLogLevel      = "EMBER_LOG_LEVEL"       // debug, info, warn or error
	EnvTLSCert       = "EMBER_TLS_CERT"        // PEM files of the executor's TLS
	EnvTLSKey        = "EMBER_TLS_KEY"         // certificate, key,
	EnvTLSCA         = "EMBER_TLS_CA"          // and the cluster's CA
	EnvTLSClientAuth = "EMBER_TLS_CLIENT_AUTH" // "true": require client certificates
	// envWatchStdin makes the executor exit when its standard input
	// closes: a local cluster's executors end with their driver, however
	// it ends.
	envWatchStdin = "EMBER_WATCH_STDIN"
)

// Init lets the program serve as an executor. Call it first thing in main:
// in a process started as an executor (EMBER_EXECUTOR set, as a
// local-cluster master does for the processes it starts) it runs the
// executor until it is told to stop, then exits; otherwise it returns at
// once.
//
// An executor started from another program runs this one as a worker
// child process, when a driver of this program uploads it; Init then
// serves the tasks the executor forwards, and exits when the executor says.
func Init() {
	wcfg, isWorker, err := executor.WorkerConfigFromEnv()
	switch {
	case err != nil:
	case isWorker:
		err = serveWorker(wcfg)
	case os.Getenv(EnvExecutor) != "":
		err = serveExecutor()
	default:
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ember executor:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveWorker serves an executor as its worker child until the executor
// closes the worker's input.
func serveWorker(cfg executor.WorkerConfig) error {
	logger, err := envLogger()
	if err != nil {
		return err
	}
	return runUntilStopped(true, func(ctx context.Context) (*executor.Daemon, error) {
		return executor.StartWorker(ctx, cfg, TaskRunner(), logger.With("worker", os.Getpid()))
	})
}

// runUntilStopped starts a daemon and runs it until SIGINT or SIGTERM, or
// with watchStdin until the standard input closes, then closes it.
func runUntilStopped(watchStdin bool, start func(context.Context) (*executor.Daemon, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	d, err := start(ctx)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-d.Done():
	}
	return errors.Join(err, d.Close())
}

// envLogger is an executor's logger, at the level EMBER_LOG_LEVEL says.
func envLogger() (*slog.Logger, error) {
	level := slog.LevelInfo
	if v := os.Getenv(EnvLogLevel); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EnvLogLevel, v, err)
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// TaskRunner returns the runner of this program's registered pipelines,
// for an executor daemon started by the program itself (see
// executor.DaemonConfig.Runner).
func TaskRunner() executor.Runner { return &runner }

// serveExecutor runs an executor daemon configured by the environment.
func serveExecutor() error {
	logger, err := envLogger()
	if err != nil {
		return err
	}
	cfg := executor.DefaultDaemonConfig()
	cfg.Logger, cfg.Runner = logger, TaskRunner()
	env := func(key string, dst *string) {
		if v := os.Getenv(key); v != "" {
			*dst = v
		}
	}
	env(EnvBind, &cfg.GossipAddr)
	env(EnvRPCBind, &cfg.RPCAddr)
	env(EnvAdvertise, &cfg.AdvertiseHost)
	env(EnvName, &cfg.Name)
	env(EnvWorkDir, &cfg.WorkDir)
	env(EnvGossipProfile, &cfg.GossipProfile)
	if v := os.Getenv(EnvJoin); v != "" {
		cfg.Seeds = strings.Split(v, ",")
	}
	if v := os.Getenv(EnvCores); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%s=%q: want a positive integer", EnvCores, v)
		}
		cfg.Cores = n
	}
	if v := os.Getenv(EnvMemory); v != "" {
		n, err := bytesize.Parse(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %w", EnvMemory, v, err)
		}
		cfg.Memory = n
	}
	cfg.Secret = []byte(strings.TrimSpace(os.Getenv(EnvSecret)))
	if cfg.TLS, cfg.ClientTLS, err = auth.TLSConfigs(os.Getenv(EnvTLSCert), os.Getenv(EnvTLSKey), os.Getenv(EnvTLSCA),
		os.Getenv(EnvTLSClientAuth) == "true"); err != nil {
		return err
	}
	return runUntilStopped(os.Getenv(envWatchStdin) != "", func(ctx context.Context) (*executor.Daemon, error) {
		return executor.StartDaemon(ctx, cfg)
	})
}

// cluster is a session's side of a cluster master: its membership, the
// backend that sends tasks to executors, and the executor processes of a
// local cluster.
type cluster struct {
	needMemory int64 // of each executor
	backend    *scheduler.Cluster
	mu         sync.Mutex
	tooSmall   map[string]int64  // executors offering less memory than needed
	unusable   map[string]error  // executors that could not be connected, and why
	instances  map[string]string // the process instance of each executor connected
	// connectTimeout bounds a connection to an executor, handshake and
	// program upload included.
	connectTimeout time.Duration
	member         *membership.Member
	procs          []*localExecutor
	workDir        string // of a local cluster's executors
	watched        sync.WaitGroup
	stop           context.CancelFunc
}

// startCluster joins the cluster of an ember:// master, or starts the
// executors of a local-cluster one, and waits for executors.
func startCluster(ctx context.Context, cfg Config, m Master) (_ *cluster, err error) {
	if os.Getenv(EnvExecutor) != "" {
		return nil, errors.New("this process was started as an Ember executor, but main did not call rdd.Init() first")
	}
	var secret []byte
	bind, profile := cfg.ClusterBind, "lan"
	if m.Kind == "local-cluster" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		secret = []byte(hex.EncodeToString(b))
		bind, profile = "127.0.0.1:0", "local"
	} else {
		if secret, err = auth.ReadSecret(cfg.SecretFile, "cluster.secretFile"); err != nil {
			return nil, err
		}
		if bind == DefaultClusterBind && allLoopback(m.Seeds) {
			bind = "127.0.0.1:0" // a cluster on this machine
		}
	}
	host, portText, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("cluster.bind %q: %w", bind, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster.bind %q: bad port", bind)
	}
	// Unique across sessions and processes: executors key what they
	// rebuild and keep by it.
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	appID := fmt.Sprintf("app-%s-%s", time.Now().UTC().Format("20060102150405"), hex.EncodeToString(nonce))
	c := &cluster{needMemory: cfg.ExecutorMemory, tooSmall: make(map[string]int64), unusable: make(map[string]error),
		instances: make(map[string]string), connectTimeout: 10 * time.Second}
	if m.Kind == "ember" {
		c.connectTimeout = time.Minute // it may upload this program
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	c.member, err = membership.Start(ctx, membership.Config{
		Name: "driver-" + appID, BindAddr: host, BindPort: port, AdvertiseAddr: cfg.ClusterAdvertise,
		Seeds: m.Seeds, Secret: secret, Profile: profile, Meta: membership.Meta{Role: membership.Driver},
		JoinTimeout: min(cfg.ExecutorWait, 10*time.Second), Insecure: cfg.Insecure,
	})
	if errors.Is(err, membership.ErrNoSeeds) {
		return nil, fmt.Errorf("%w; check that the seeds are gossip addresses of cluster members and that cluster.secretFile or %s holds the cluster's secret", err, EnvSecret)
	}
	if err != nil {
		return nil, err
	}
	var clientTLS *tls.Config
	if m.Kind == "ember" {
		if _, clientTLS, err = auth.TLSConfigs(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA, false); err != nil {
			return nil, err
		}
	}
	ccfg := scheduler.ClusterConfig{
		AppID: appID, Fingerprint: registry.fingerprint(), DialOptions: auth.DialOptions(secret, clientTLS),
		ExecutorWait: cfg.ExecutorWait, LocalityWait: cfg.LocalityWait,
		HeartbeatInterval: cfg.HeartbeatInterval, HeartbeatTimeout: cfg.HeartbeatTimeout,
	}
	if m.Kind == "ember" {
		// Executors of a standalone cluster may run another program.
		ccfg.Program = thisProgram
	}
	c.backend = scheduler.NewCluster(ccfg)
	wctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.follow(wctx)
	if m.Kind == "local-cluster" {
		if err := c.startLocal(m, secret); err != nil {
			return nil, err
		}
		if err := c.wait(ctx, m.Executors, cfg.ExecutorWait); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Master, err)
		}
		return c, nil
	}
	if err := c.wait(ctx, max(cfg.MinExecutors, 1), cfg.ExecutorWait); err != nil {
		return nil, fmt.Errorf("joined through %s: %w (cluster.executorWait %v)", strings.Join(m.Seeds, ","), err, cfg.ExecutorWait)
	}
	return c, nil
}

// executorStatus describes the connected executors, and the members that
// gossip knows but that are not connected, with the reason if there is one.
func (c *cluster) executorStatus() []status.Executor {
	var out []status.Executor
	index := map[string]int{}
	for _, e := range c.backend.ExecutorInfos() {
		index[e.Name] = len(out)
		out = append(out, status.Executor{Name: e.Name, Address: e.Addr, State: "active", Cores: e.Cores,
			MemoryUsed: e.MemoryUsed, MemoryLimit: e.MemoryLimit, DiskUsed: e.DiskUsed})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.member.Executors() {
		if i, ok := index[n.Name]; ok {
			out[i].Gossip = n.Addr
			continue
		}
		e := status.Executor{Name: n.Name, Address: n.Meta.RPCAddr, Gossip: n.Addr, State: "joined", Cores: n.Meta.Cores}
		if err := c.unusable[n.Name]; err != nil {
			e.State, e.Reason = "unusable", err.Error()
		} else if mem, ok := c.tooSmall[n.Name]; ok {
			e.State, e.Reason = "unusable", fmt.Sprintf("offers %s of memory, less than executor.memory", bytesize.Format(mem))
		}
		out = append(out, e)
	}
	return out
}

// follow keeps the backend's executors in step with the membership.
func (c *cluster) follow(ctx context.Context) {
	events := c.member.Watch()
	connect := func(n membership.Node) {
		if n.Meta.Memory < c.needMemory {
			c.mu.Lock()
			c.tooSmall[n.Name] = n.Meta.Memory
			c.mu.Unlock()
			slog.Warn("ember: executor offers too little memory", "executor", n.Name, "memory", n.Meta.Memory, "executor.memory", c.needMemory)
			return
		}
		c.mu.Lock()
		if c.instances[n.Name] == n.Meta.Instance && slices.Contains(c.backend.Executors(), n.Name) {
			c.mu.Unlock()
			return // connected to this very process already
		}
		c.instances[n.Name] = n.Meta.Instance
		c.mu.Unlock()
		c.watched.Add(1)
		go func() {
			defer c.watched.Done()
			var err error
			for attempt := 1; attempt <= 3; attempt++ {
				// Long enough to upload a program and start it.
				actx, cancel := context.WithTimeout(ctx, c.connectTimeout)
				err = c.backend.AddExecutor(actx, n.Name, n.Meta.RPCAddr, n.Meta.Cores)
				cancel()
				code := grpcstatus.Code(errors.Unwrap(err))
				if err == nil || ctx.Err() != nil || code == codes.FailedPrecondition || code == codes.PermissionDenied {
					break // done, or retrying cannot help
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			c.mu.Lock()
			if err != nil && ctx.Err() == nil {
				c.unusable[n.Name] = err
				slog.Warn("ember: executor not usable", "executor", n.Name, "err", err)
			} else {
				delete(c.unusable, n.Name)
			}
			c.mu.Unlock()
		}()
	}
	for _, n := range c.member.Executors() {
		connect(n)
	}
	c.watched.Add(1)
	go func() {
		defer c.watched.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Node.Meta.Role != membership.Executor {
					continue
				}
				switch ev.Kind {
				case membership.Join, membership.Update:
					connect(ev.Node)
				case membership.Leave, membership.Failed:
					c.backend.RemoveExecutor(ev.Node.Name, fmt.Errorf("membership: %s", ev.Kind))
				}
			}
		}
	}()
}

// startLocal starts the executor processes of a local cluster: this very
// program, which Init turns into an executor.
func (c *cluster) startLocal(m Master, secret []byte) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("local-cluster: cannot find this program to start executors: %w", err)
	}
	// The executors' files live under one directory of the driver's, so
	// that what an executor killed mid-job leaves goes too.
	if c.workDir, err = os.MkdirTemp("", "ember-local-cluster-*"); err != nil {
		return fmt.Errorf("local-cluster: %w", err)
	}
	for i := range m.Executors {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(),
			EnvExecutor+"=1",
			EnvJoin+"="+c.member.Addr(),
			EnvBind+"=127.0.0.1:0",
			EnvRPCBind+"=127.0.0.1:0",
			EnvCores+"="+strconv.Itoa(m.Cores),
			EnvSecret+"="+string(secret),
			EnvGossipProfile+"=local",
			EnvName+"="+fmt.Sprintf("executor-%d", i),
			envWatchStdin+"=1",
			EnvWorkDir+"="+filepath.Join(c.workDir, fmt.Sprintf("executor-%d", i)),
		)
		if os.Getenv(EnvLogLevel) == "" {
			cmd.Env = append(cmd.Env, EnvLogLevel+"=warn")
		}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("local-cluster: start executor %d: %w", i, err)
		}
		p := &localExecutor{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
		go func() {
			p.err = cmd.Wait()
			close(p.exited)
		}()
		c.procs = append(c.procs, p)
	}
	return nil
}

// localExecutor is an executor process of a local cluster.
type localExecutor struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// early reports an executor process that exited while the session
// started: a program that does not call rdd.Init first, or a crash.
func (c *cluster) early() error {
	for _, p := range c.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("executor process %d exited at start (%v); does main call rdd.Init() first?", p.cmd.Process.Pid, p.err)
		default:
		}
	}
	return nil
}

// wait waits until the backend has at least n executors.
func (c *cluster) wait(ctx context.Context, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for len(c.backend.Executors()) < n {
		if err := c.early(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("%d of %d executors connected after %v", len(c.backend.Executors()), n, limit)
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.unusable) > 0 {
				var why []string
				for name, uerr := range c.unusable {
					why = append(why, fmt.Sprintf("%s: %v", name, uerr))
				}
				slices.Sort(why)
				err = fmt.Errorf("%w; executors not usable: %s", err, strings.Join(why, "; "))
			}
			if len(c.tooSmall) > 0 {
				var offers []string
				for name, mem := range c.tooSmall {
					offers = append(offers, fmt.Sprintf("%s offers %s", name, bytesize.Format(mem)))
				}
				slices.Sort(offers)
				err = fmt.Errorf("%w; the session needs %s of memory per executor (executor.memory), and %s",
					err, bytesize.Format(c.needMemory), strings.Join(offers, ", "))
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// close ends the application on the executors, leaves the cluster, and
// stops a local cluster's processes.
func (c *cluster) close() error {
	var errs []error
	if c.backend != nil {
		errs = append(errs, c.backend.Close())
	}
	if c.stop != nil {
		c.stop()
	}
	// The executors go first, while the driver is still a member to hear
	// their goodbyes.
	for _, p := range c.procs {
		p.stdin.Close() // the executor exits when its input closes
	}
	for _, p := range c.procs {
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		// An executor killed by a signal was lost already, and the jobs
		// recovered; one that exited with an error failed to stop cleanly.
		var exit *exec.ExitError
		if errors.As(p.err, &exit) && !exit.Exited() {
			continue
		}
		if p.err != nil {
			errs = append(errs, fmt.Errorf("local-cluster executor %d: %w", p.cmd.Process.Pid, p.err))
		}
	}
	if c.member != nil {
		errs = append(errs, c.member.Close(time.Second))
	}
	c.watched.Wait()
	if c.workDir != "" {
		errs = append(errs, os.RemoveAll(c.workDir))
	}
	return errors.Join(errs...)
}

// thisProgram describes the running binary, for executors to run it.
func thisProgram() (*rpc.BinaryHeader, string, error) {
	p, err := executor.ThisProgram()
	if err != nil {
		return nil, "", fmt.Errorf("ship this program to executors: %w", err)
	}
	return p.Header, p.Path, nil
}

func allLoopback(addrs []string) bool {
	for _, a := range addrs {
		if host, _, _ := net.SplitHostPort(a); !membership.Loopback(host) {
			return false
		}
	}
	return true
}

// wireConfig is the configuration executors rebuild graphs with.
func (s *Session) wireConfig() []byte {
	b, _ := json.Marshal(s.cfg) // a struct of plain fields always encodes
	return b
}

// owns checks that every RDD of the graph ending in n was built in this
// invocation: executors can rebuild no other.
func (inv *invocation) owns(n scheduler.Node) error {
	seen := map[int]bool{}
	var walk func(scheduler.Node) error
	walk = func(n scheduler.Node) error {
		if seen[n.ID()] {
			return nil
		}
		seen[n.ID()] = true
		if x, ok := n.(interface{ invocation() *invocation }); ok && x.invocation() != inv {
			return fmt.Errorf("%s was built outside the pipeline that runs this job; on a cluster every RDD of a job must be built inside its pipeline", n)
		}
		for _, d := range n.Dependencies() {
			if err := walk(d.Parent); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(n)
}

func (n *node) invocation() *invocation { return n.s.inv }

// runner is this program's executor.Runner.
var runner = taskRunner{jobs: make(map[string]*replayedJob)}

// taskRunner rebuilds jobs from their definitions, once per job on each
// executor, and runs their tasks.
type taskRunner struct {
	mu    sync.Mutex
	jobs  map[string]*replayedJob
	order []string // oldest first, to bound the cache
}

type replayedJob struct {
	once sync.Once
	job  *capturedJob
	err  error

	// spares are rebuilt graphs that no task runs on now, for pipelines
	// with accumulators: a task of one runs on a graph of its own, so
	// that what it adds is its own to report. There are at most as many
	// as tasks of the job ran at once.
	mu     sync.Mutex
	spares []*capturedJob
}

// maxReplayedJobs bounds the rebuilt graphs an executor keeps.
const maxReplayedJobs = 64

func (tr *taskRunner) Fingerprint() string { return registry.fingerprint() }

func (tr *taskRunner) RunTask(tc *executor.TaskContext, def *rpc.DefineJob) *rpc.TaskStatus {
	rj := tr.job(tc.App, def)
	job, err := rj.job, rj.err
	if err == nil && len(job.accs) > 0 {
		if job, err = rj.take(def); err == nil {
			defer rj.put(job)
		}
	}
	if err != nil {
		err = scheduler.Permanent(err)
		return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: scheduler.TaskErrorMessage(err)}
	}
	res, ms, err := runTask(tc, job)
	if err != nil {
		return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: scheduler.TaskErrorMessage(err)}
	}
	st := &rpc.TaskStatus{State: rpc.TaskStatus_FINISHED, Result: res}
	if ms != nil {
		st.MapOutput = scheduler.MapOutputMessage(ms)
	}
	for i, a := range job.accs {
		if bits := a.valueBits(); bits != 0 {
			st.Accumulators = append(st.Accumulators, &rpc.AccumulatorValue{Index: int32(i), Bits: bits})
		}
	}
	return st
}

// runTask runs the task tc describes on a rebuilt job.
func runTask(tc *executor.TaskContext, job *capturedJob) ([]byte, *shuffle.MapStatus, error) {
	t := tc.Task()
	if t.Kind == executor.ResultTask {
		res, err := job.run(tc, tc.Partition)
		return res, nil, err
	}
	dep := scheduler.FindShuffle(job.final, t.ShuffleID)
	if dep == nil {
		return nil, nil, scheduler.Permanent(fmt.Errorf("shuffle %d is not in the graph of %s", t.ShuffleID, job.final))
	}
	if t.Kind == executor.SampleTask {
		res, err := dep.Sample(tc, tc.Partition)
		return res, nil, err
	}
	if len(t.Partitioner) > 0 && dep.Restore != nil {
		if err := dep.Restore(t.Partitioner); err != nil {
			return nil, nil, scheduler.Permanent(err)
		}
	}
	ms, err := dep.MapTask(tc, tc.Partition)
	if err != nil {
		return nil, nil, err
	}
	return nil, &ms, nil
}

// job returns the captured job of def, rebuilding it on first use.
func (tr *taskRunner) job(app string, def *rpc.DefineJob) *replayedJob {
	key := app + "/" + strconv.FormatUint(def.JobKey, 10)
	tr.mu.Lock()
	rj, ok := tr.jobs[key]
	if !ok {
		rj = &replayedJob{}
		tr.jobs[key] = rj
		tr.order = append(tr.order, key)
		if len(tr.order) > maxReplayedJobs {
			delete(tr.jobs, tr.order[0])
			tr.order = tr.order[1:]
		}
	}
	tr.mu.Unlock()
	rj.once.Do(func() {
		if rj.job, rj.err = rebuild(def); rj.err == nil {
			rj.spares = []*capturedJob{rj.job}
		}
	})
	return rj
}

// take returns a graph of the job that no running task uses.
func (rj *replayedJob) take(def *rpc.DefineJob) (*capturedJob, error) {
	rj.mu.Lock()
	if n := len(rj.spares); n > 0 {
		job := rj.spares[n-1]
		rj.spares = rj.spares[:n-1]
		rj.mu.Unlock()
		return job, nil
	}
	rj.mu.Unlock()
	return rebuild(def)
}

// put returns a graph taken for a task that reported what it added.
func (rj *replayedJob) put(job *capturedJob) {
	for _, a := range job.accs {
		a.reset()
	}
	rj.mu.Lock()
	defer rj.mu.Unlock()
	rj.spares = append(rj.spares, job)
}

// rebuild runs the pipeline of def up to the job it defines.
func rebuild(def *rpc.DefineJob) (*capturedJob, error) {
	p, ok := registry.lookup(def.Pipeline)
	if !ok {
		return nil, fmt.Errorf("pipeline %s is not registered in this program", def.Pipeline)
	}
	cfg := DefaultConfig()
	if err := json.Unmarshal(def.Config, &cfg); err != nil {
		return nil, fmt.Errorf("the driver's configuration: %w", err)
	}
	inv := &invocation{pipeline: def.Pipeline, arg: def.Argument, replay: &replay{
		target: int(def.JobIndex), rddIDs: def.RddIds, shuffleIDs: def.ShuffleIds, history: def.History,
	}}
	st := &session{cfg: cfg, slots: cfg.DefaultParallelism}
	if err := p.replay(&Session{session: st, inv: inv}, def.Argument); err != nil {
		return nil, err
	}
	return inv.replay.job, nil
}
