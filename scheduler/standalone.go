package scheduler

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/bytesize"
	"github.com/ember-go/ember/internal/execenv"
	"github.com/ember-go/ember/internal/membership"
	"github.com/ember-go/ember/internal/program"
	"github.com/ember-go/ember/internal/rpc"
)

// StandaloneConfig configures the engine of a cluster master: how the
// driver joins the cluster's gossip and which executors it uses.
type StandaloneConfig struct {
	// Fingerprint digests the program's registered pipelines; executors
	// refuse a driver whose fingerprint differs from theirs.
	Fingerprint string
	// SecretFile holds the cluster secret of an ember:// master; ""
	// reads EMBER_SECRET. A local-cluster master makes a secret of its
	// own.
	SecretFile string
	// Insecure lets an ember:// driver gossip beyond loopback without a
	// secret.
	Insecure bool
	// InsecureTransport calls executors over plain TCP when no TLS files
	// are given. Otherwise a driver with a secret speaks mutual TLS with
	// certificates derived from the secret (auth.ClusterTLS), as the
	// executors do; a local cluster's executors follow the driver.
	InsecureTransport bool
	// TLSCert, TLSKey and TLSCA are PEM files: the CA turns TLS on for
	// calls to executors; the certificate and key are the driver's, for
	// executors that require client certificates.
	TLSCert, TLSKey, TLSCA string
	// Bind is the driver's gossip address; DefaultClusterBind lets
	// executors on other machines reach it, and is narrowed to loopback
	// when every seed is on loopback.
	Bind string
	// Advertise is the host executors reach the driver by; "" is a local
	// address.
	Advertise string
	// ExecutorWait bounds the wait for executors at start, and a task's
	// wait while there is no executor at all; zero means
	// DefaultExecutorWait.
	ExecutorWait time.Duration
	// MinExecutors is how many executors an ember:// driver waits for at
	// start (0: one).
	MinExecutors int
	// ExecutorMemory is the memory the session needs of each executor;
	// executors that offer less are not used.
	ExecutorMemory int64
	// LocalityWait, HeartbeatInterval and HeartbeatTimeout are as in
	// ClusterConfig.
	LocalityWait, HeartbeatInterval, HeartbeatTimeout time.Duration
}

// DefaultClusterBind is StandaloneConfig.Bind's default: any interface, any
// port.
const DefaultClusterBind = "0.0.0.0:0"

// standalone is the engine of a cluster master: the DAG scheduler over a
// Cluster backend, the driver's gossip membership, which the backend's
// executors follow, and the executor processes of a local cluster.
type standalone struct {
	*dagScheduler
	backend *clusterBackend
	member  *membership.Member
	needMem int64 // of each executor
	// connectTimeout bounds a connection to an executor, handshake and
	// program upload included.
	connectTimeout time.Duration

	mu        sync.Mutex
	tooSmall  map[string]int64  // executors offering less memory than needed
	unusable  map[string]error  // executors that could not be connected, and why
	instances map[string]string // the process instance of each executor connected
	// dropped names the executors whose connection was lost, for follow
	// to connect again while gossip counts them alive.
	dropped    chan string
	reconnects map[string]int // connections made again, by executor

	local   *localCluster // the executor processes of a local-cluster master
	watched sync.WaitGroup
	stop    context.CancelFunc
}

// startStandalone joins the cluster of an ember:// master, or starts the
// executors of a local-cluster one, and waits for executors.
func startStandalone(ctx context.Context, m Master, dagCfg dagConfig, cfg StandaloneConfig) (_ *standalone, err error) {
	if os.Getenv(execenv.Executor) != "" {
		return nil, errors.New("this process was started as an Ember executor, but main did not call rdd.Init() first")
	}
	secret, err := clusterSecret(m, cfg)
	if err != nil {
		return nil, err
	}
	appID, err := newAppID()
	if err != nil {
		return nil, err
	}
	s := &standalone{needMem: cfg.ExecutorMemory, connectTimeout: 10 * time.Second,
		tooSmall: make(map[string]int64), unusable: make(map[string]error), instances: make(map[string]string),
		dropped: make(chan string, 64), reconnects: make(map[string]int)}
	if m.Kind == StandaloneMaster {
		s.connectTimeout = time.Minute // it may upload this program
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.member, err = joinGossip(ctx, m, cfg, appID, secret); err != nil {
		return nil, err
	}
	ccfg, err := clusterConfig(m, cfg, appID, secret)
	if err != nil {
		return nil, err
	}
	ccfg.whyLost = s.whyLost
	s.backend = newClusterBackend(ccfg)
	s.dagScheduler = newDAGScheduler(s.backend, dagCfg)
	s.backend.OnLost(s.dagScheduler.ExecutorLost)
	if m.Kind == StandaloneMaster {
		// A local cluster replaces its lost executors; a standalone one
		// may still have them, with a crashed worker or a network back.
		s.backend.OnLost(func(name, _ string, _ uint64) {
			select {
			case s.dropped <- name:
			default:
			}
		})
	}
	wctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.follow(wctx)
	if m.Kind == LocalClusterMaster {
		if err := s.startLocal(m, secret, cfg.InsecureTransport); err != nil {
			return nil, err
		}
		if err := s.wait(ctx, m.Executors, cfg.ExecutorWait); err != nil {
			return nil, fmt.Errorf("%s: %w", m.URL, err)
		}
		s.local.run()
		return s, nil
	}
	if err := s.wait(ctx, max(cfg.MinExecutors, 1), cfg.ExecutorWait); err != nil {
		return nil, fmt.Errorf("joined through %s: %w (cluster.executorWait %v)", strings.Join(m.Seeds, ","), err, cfg.ExecutorWait)
	}
	return s, nil
}

// clusterSecret is the secret that keys the cluster's gossip and RPCs: a
// new one for a local cluster, the configured one for a standalone one.
func clusterSecret(m Master, cfg StandaloneConfig) ([]byte, error) {
	if m.Kind == LocalClusterMaster {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b)), nil
	}
	secret, err := auth.ReadSecret(cfg.SecretFile, "cluster.secretFile")
	if err != nil || len(secret) > 0 || cfg.Insecure || !allLoopback(m.Seeds) {
		return secret, err
	}
	// A loopback cluster's executors started without a secret use the
	// user's: so does its driver.
	secret, _, err = auth.ReadLocalSecret()
	return secret, err
}

// newAppID names the application uniquely across sessions and processes:
// executors key what they rebuild and keep by it.
func newAppID() (string, error) {
	nonce := make([]byte, 6)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return fmt.Sprintf("app-%s-%s", time.Now().UTC().Format("20060102150405"), hex.EncodeToString(nonce)), nil
}

// joinGossip makes the driver a member of the cluster's gossip, bound to
// loopback for a cluster on this machine.
func joinGossip(ctx context.Context, m Master, cfg StandaloneConfig, appID string, secret []byte) (*membership.Member, error) {
	bind, profile := cmp.Or(cfg.Bind, DefaultClusterBind), "lan"
	switch {
	case m.Kind == LocalClusterMaster:
		bind, profile = "127.0.0.1:0", "local"
	case bind == DefaultClusterBind && allLoopback(m.Seeds):
		bind = "127.0.0.1:0"
	}
	host, portText, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("cluster.bind %q: %w", bind, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster.bind %q: bad port", bind)
	}
	wait := cmp.Or(cfg.ExecutorWait, DefaultExecutorWait)
	member, err := membership.Start(ctx, membership.Config{
		Name: "driver-" + appID, BindAddr: host, BindPort: port, AdvertiseAddr: cfg.Advertise,
		Seeds: m.Seeds, Secret: secret, Profile: profile, Meta: membership.Meta{Role: membership.Driver},
		JoinTimeout: min(wait, 10*time.Second), Insecure: cfg.Insecure,
	})
	if errors.Is(err, membership.ErrNoSeeds) {
		return nil, fmt.Errorf("%w; check that the seeds are gossip addresses of cluster members and that cluster.secretFile or %s holds the cluster's secret", err, execenv.Secret)
	}
	return member, err
}

// clusterConfig is the backend's configuration: how to dial executors and
// what to tell them.
func clusterConfig(m Master, cfg StandaloneConfig, appID string, secret []byte) (clusterBackendConfig, error) {
	clientTLS, err := driverTLS(m, cfg, secret)
	if err != nil {
		return clusterBackendConfig{}, err
	}
	ccfg := clusterBackendConfig{
		AppID: appID, Fingerprint: cfg.Fingerprint, DialOptions: auth.DialOptions(secret, clientTLS),
		ExecutorWait: cfg.ExecutorWait, LocalityWait: cfg.LocalityWait,
		HeartbeatInterval: cfg.HeartbeatInterval, HeartbeatTimeout: cfg.HeartbeatTimeout,
	}
	if m.Kind == StandaloneMaster {
		// Executors of a standalone cluster may run another program.
		ccfg.program = thisProgram
	}
	return ccfg, nil
}

// driverTLS is the TLS configuration of the driver's calls to executors:
// from the tls.* files when given, else derived from the secret, unless
// cfg.InsecureTransport says plain TCP (nil).
func driverTLS(m Master, cfg StandaloneConfig, secret []byte) (*tls.Config, error) {
	if m.Kind == StandaloneMaster && (cfg.TLSCert != "" || cfg.TLSKey != "" || cfg.TLSCA != "") {
		_, clientTLS, err := auth.TLSConfigs(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA, false)
		return clientTLS, err
	}
	if len(secret) == 0 || cfg.InsecureTransport {
		if len(secret) > 0 {
			slog.Warn("the driver calls executors over plain TCP (cluster.insecureTransport): its tasks and data can be read on the network")
		}
		return nil, nil
	}
	_, clientTLS, err := auth.ClusterTLS(secret, time.Now())
	return clientTLS, err
}

// DefaultExecutorWait is StandaloneConfig.ExecutorWait's default.
const DefaultExecutorWait = 30 * time.Second

func (s *standalone) Unpersist(rdd int) {
	s.backend.Unpersist(rdd)
	s.dagScheduler.ForgetCached(rdd)
}

func (s *standalone) Cached() []CachedPartition   { return s.dagScheduler.CachedPartitions() }
func (s *standalone) Slots() int                  { return s.backend.Cores() }
func (s *standalone) OnTaskEnd(f func(TaskEvent)) { s.backend.OnTask(f) }
func (s *standalone) GossipAddr() string          { return s.member.Addr() }

// IDBase starts the ids at a random offset, below 2^52 so that they
// survive JSON readers that hold numbers as float64 (JavaScript's): the
// status API shows them.
func (s *standalone) IDBase() int64 { return int64(mrand.Uint32()>>4) << 24 }

// RunJob describes the job to executors, which rebuild its graph, and runs
// it.
func (s *standalone) RunJob(ctx context.Context, job Job) error {
	if job.Spec == nil && job.Describe != nil {
		spec, err := job.Describe()
		if err != nil {
			return err
		}
		job.Spec = spec
	}
	return s.dagScheduler.RunJob(ctx, job)
}

func (s *standalone) OnExecutorLost(f func(name, addr string)) {
	s.backend.OnLost(func(name, addr string, _ uint64) { f(name, addr) })
}

// Executors describes the connected executors, and the members that gossip
// knows but that are not connected, with the reason if there is one.
func (s *standalone) Executors() []ExecutorStatus {
	var out []ExecutorStatus
	index := map[string]int{}
	for _, e := range s.backend.ExecutorInfos() {
		index[e.Name] = len(out)
		out = append(out, ExecutorStatus{Name: e.Name, Address: e.Addr, State: "active", Cores: e.Cores,
			MemoryUsed: e.MemoryUsed, MemoryLimit: e.MemoryLimit, DiskUsed: e.DiskUsed,
			MemoryBudget: e.MemoryBudget, ExecutionUsed: e.ExecutionUsed})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.member.Executors() {
		if i, ok := index[n.Name]; ok {
			out[i].Gossip = n.Addr
			continue
		}
		e := ExecutorStatus{Name: n.Name, Address: n.Meta.RPCAddr, Gossip: n.Addr, State: "joined", Cores: n.Meta.Cores}
		if err := s.unusable[n.Name]; err != nil {
			e.State, e.Reason = "unusable", err.Error()
		} else if mem, ok := s.tooSmall[n.Name]; ok {
			e.State, e.Reason = "unusable", fmt.Sprintf("offers %s of memory, less than executor.memory", bytesize.Format(mem))
		}
		out = append(out, e)
	}
	return out
}

// follow keeps the backend's executors in step with the membership.
func (s *standalone) follow(ctx context.Context) {
	events := s.member.Watch()
	for _, n := range s.member.Executors() {
		s.connect(ctx, n)
	}
	s.watched.Add(1)
	go func() {
		defer s.watched.Done()
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
					s.connect(ctx, ev.Node)
				case membership.Leave, membership.Failed:
					s.backend.RemoveExecutor(ev.Node.Name, fmt.Errorf("membership: %s", ev.Kind))
				}
			case name := <-s.dropped:
				s.reconnectLater(ctx, name)
			}
		}
	}()
}

// reconnectLater connects again, after a pause, to an executor whose
// connection was lost if gossip still counts it alive: its worker process
// crashed, or its network broke for a while. An executor is connected
// again at most maxReconnects times.
func (s *standalone) reconnectLater(ctx context.Context, name string) {
	s.mu.Lock()
	s.reconnects[name]++
	n := s.reconnects[name]
	s.mu.Unlock()
	if n > maxReconnects {
		slog.Warn("ember: executor keeps being lost; not connecting to it again", "executor", name, "reconnects", maxReconnects)
		return
	}
	s.watched.Add(1)
	go func() {
		defer s.watched.Done()
		select {
		case <-ctx.Done():
			return
		case <-time.After(reconnectPause):
		}
		for _, n := range s.member.Executors() {
			if n.Name == name {
				s.connect(ctx, n)
			}
		}
	}()
}

// Bounds of reconnectLater.
const (
	maxReconnects  = 10
	reconnectPause = time.Second
)

// connect adds an executor that gossip announced to the backend, in the
// background, unless it offers too little memory or is connected already.
func (s *standalone) connect(ctx context.Context, n membership.Node) {
	if n.Meta.Memory < s.needMem {
		s.mu.Lock()
		s.tooSmall[n.Name] = n.Meta.Memory
		s.mu.Unlock()
		slog.Warn("ember: executor offers too little memory", "executor", n.Name, "memory", n.Meta.Memory, "executor.memory", s.needMem)
		return
	}
	s.mu.Lock()
	if s.instances[n.Name] == n.Meta.Instance && slices.Contains(s.backend.Executors(), n.Name) {
		s.mu.Unlock()
		return // connected to this very process already
	}
	s.instances[n.Name] = n.Meta.Instance
	s.mu.Unlock()
	s.watched.Add(1)
	go func() {
		defer s.watched.Done()
		err := s.addExecutor(ctx, n)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			s.unusable[n.Name] = err
			slog.Warn("ember: executor not usable", "executor", n.Name, "err", err)
		} else {
			delete(s.unusable, n.Name)
		}
	}()
}

// addExecutor connects to an executor, trying three times unless retrying
// cannot help.
func (s *standalone) addExecutor(ctx context.Context, n membership.Node) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		// Long enough to upload a program and start it.
		actx, cancel := context.WithTimeout(ctx, s.connectTimeout)
		err = s.backend.AddExecutor(actx, n.Name, n.Meta.RPCAddr, n.Meta.Cores)
		cancel()
		code := grpcstatus.Code(errors.Unwrap(err))
		if err == nil || ctx.Err() != nil || code == codes.FailedPrecondition || code == codes.PermissionDenied {
			return err // done, or retrying cannot help
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return err
}

// startLocal starts the executor processes of a local cluster: this very
// program, which rdd.Init turns into an executor.
func (s *standalone) startLocal(m Master, secret []byte, plain bool) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("local-cluster: cannot find this program to start executors: %w", err)
	}
	// The executors' files live under one directory of the driver's, so
	// that what an executor killed mid-job leaves goes too.
	workDir, err := os.MkdirTemp("", "ember-local-cluster-*")
	if err != nil {
		return fmt.Errorf("local-cluster: %w", err)
	}
	s.local = &localCluster{exe: exe, workDir: workDir, limit: maxReplacementsPerExecutor * m.Executors,
		secret: secret, env: func(name, dir string) []string { return s.localEnv(name, dir, m, plain) }}
	for range m.Executors {
		if err := s.local.launch(); err != nil {
			return err
		}
	}
	return nil
}

// localEnv is the environment of a local cluster's executor.
func (s *standalone) localEnv(name, workDir string, m Master, plain bool) []string {
	env := execenv.ChildEnv(
		execenv.Executor+"=1",
		execenv.Join+"="+s.member.Addr(),
		execenv.Bind+"=127.0.0.1:0",
		execenv.RPCBind+"=127.0.0.1:0",
		execenv.Cores+"="+strconv.Itoa(m.Cores),
		execenv.SecretOnStdin+"=1",
		execenv.InsecureTransport+"="+strconv.FormatBool(plain),
		execenv.GossipProfile+"=local",
		execenv.Name+"="+name,
		execenv.WatchStdin+"=1",
		execenv.WorkDir+"="+workDir,
	)
	if m.Memory > 0 {
		env = append(env, execenv.Memory+"="+strconv.FormatInt(m.Memory, 10))
	}
	if os.Getenv(execenv.LogLevel) == "" {
		env = append(env, execenv.LogLevel+"=warn")
	}
	return env
}

// whyLost says why the executor of a name was lost, when this driver
// started its process (a local cluster); nil otherwise.
func (s *standalone) whyLost(name string) error {
	if s.local == nil {
		return nil
	}
	return s.local.whyLost(name)
}

// maxReplacementsPerExecutor bounds how many times a local cluster starts
// executors again, per executor it was asked for: a program whose
// executors crash at once must fail, not loop.
const maxReplacementsPerExecutor = 10

// localCluster is the executor processes of a local-cluster master. Once
// the session has started, one that exits is replaced by a new one (with a
// new name), as Spark's standalone workers relaunch their executors, so
// that a job survives its executors being killed one after another.
type localCluster struct {
	exe     string
	workDir string
	env     func(name, workDir string) []string
	secret  []byte // given to each executor on its standard input
	limit   int    // of replacements

	mu       sync.Mutex
	procs    []*localExecutor
	started  int  // processes started: executor-0, executor-1, …
	running  bool // the session started: an exit is replaced
	closing  bool
	replaced int
	watched  sync.WaitGroup
}

// launch starts the next executor process and watches it.
func (lc *localCluster) launch() error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.launchLocked()
}

func (lc *localCluster) launchLocked() error {
	name := fmt.Sprintf("executor-%d", lc.started)
	p, err := startLocalExecutor(name, lc.exe, lc.env(name, filepath.Join(lc.workDir, name)), lc.secret)
	if err != nil {
		return fmt.Errorf("local-cluster: start %s: %w", name, err)
	}
	lc.started++
	lc.procs = append(lc.procs, p)
	lc.watched.Add(1)
	go lc.replaceWhenExited(p, name)
	return nil
}

// replaceWhenExited starts another executor when p exits while the
// session runs.
func (lc *localCluster) replaceWhenExited(p *localExecutor, name string) {
	defer lc.watched.Done()
	<-p.exited
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closing || !lc.running {
		return
	}
	if lc.replaced >= lc.limit {
		slog.Error("ember: local-cluster executors keep exiting; not starting more", "executor", name, "started", lc.started)
		return
	}
	lc.replaced++
	p.replaced = true
	slog.Warn("ember: local-cluster executor exited; starting another", "executor", name, "exit", p.err)
	if err := lc.launchLocked(); err != nil {
		slog.Error("ember: local-cluster: could not replace an executor", "executor", name, "err", err)
	}
}

// early reports an executor process that exited while the session
// started: a program that does not call rdd.Init first, or a crash.
func (lc *localCluster) early() error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, p := range lc.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("executor process %d exited at start (%v); does main call rdd.Init() first?", p.cmd.Process.Pid, p.err)
		default:
		}
	}
	return nil
}

// run says that the session started: from now on an executor that exits
// is replaced.
func (lc *localCluster) run() {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.running = true
}

// close stops every executor process, and removes their files.
func (lc *localCluster) close() error {
	lc.mu.Lock()
	lc.closing = true
	procs := lc.procs
	lc.mu.Unlock()
	for _, p := range procs {
		p.stdin.Close() // the executor exits when its input closes
	}
	var errs []error
	for _, p := range procs {
		if err := p.stop(); err != nil && !p.replaced {
			errs = append(errs, err) // one replaced had its say when it exited
		}
	}
	lc.watched.Wait()
	return errors.Join(append(errs, os.RemoveAll(lc.workDir))...)
}

// whyLost says whether the local executor of a name that was lost
// exited by itself: a task crashed it. It waits a moment for the process
// to end, as its connection may break first.
func (lc *localCluster) whyLost(name string) error {
	lc.mu.Lock()
	i := slices.IndexFunc(lc.procs, func(p *localExecutor) bool { return p.name == name })
	var p *localExecutor
	if i >= 0 {
		p = lc.procs[i]
	}
	lc.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
	case <-time.After(exitWait):
		return nil // alive: only its connection was lost
	}
	if ps := p.cmd.ProcessState; program.ExitedByItself(ps) {
		return fmt.Errorf("%w: process %d ended with %v", ErrExitCausedByTask, ps.Pid(), ps)
	}
	return nil
}

// exitWait bounds the wait for a lost local executor's process to end.
const exitWait = 2 * time.Second

// localExecutor is an executor process of a local cluster.
type localExecutor struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.Closer
	exited chan struct{}
	err    error // of Wait, once exited is closed
	// replaced says that the process exited while the session ran and
	// another took its place; guarded by its localCluster's mu.
	replaced bool
}

func startLocalExecutor(name, exe string, env []string, secret []byte) (*localExecutor, error) {
	cmd := exec.Command(exe)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := execenv.WriteSecretLine(stdin, secret); err != nil {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	p := &localExecutor{name: name, cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop closes the executor's input, which makes it exit, and waits for
// it; an executor that exited with an error (not killed by a signal: it
// was lost already, and the jobs recovered) failed to stop cleanly.
func (p *localExecutor) stop() error {
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) && !exit.Exited() {
		return nil
	}
	if p.err != nil {
		return fmt.Errorf("local-cluster executor %d: %w", p.cmd.Process.Pid, p.err)
	}
	return nil
}

// wait waits until the backend has at least n executors.
func (s *standalone) wait(ctx context.Context, n int, limit time.Duration) error {
	limit = cmp.Or(limit, DefaultExecutorWait)
	deadline := time.Now().Add(limit)
	for len(s.backend.Executors()) < n {
		if s.local != nil {
			if err := s.local.early(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return s.notEnough(n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// notEnough says why fewer than n executors connected in time.
func (s *standalone) notEnough(n int, limit time.Duration) error {
	err := fmt.Errorf("%d of %d executors connected after %v", len(s.backend.Executors()), n, limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.unusable) > 0 {
		var why []string
		for name, uerr := range s.unusable {
			why = append(why, fmt.Sprintf("%s: %v", name, uerr))
		}
		slices.Sort(why)
		err = fmt.Errorf("%w; executors not usable: %s", err, strings.Join(why, "; "))
	}
	if len(s.tooSmall) > 0 {
		var offers []string
		for name, mem := range s.tooSmall {
			offers = append(offers, fmt.Sprintf("%s offers %s", name, bytesize.Format(mem)))
		}
		slices.Sort(offers)
		err = fmt.Errorf("%w; the session needs %s of memory per executor (executor.memory), and %s",
			err, bytesize.Format(s.needMem), strings.Join(offers, ", "))
	}
	return err
}

// Close ends the application on the executors, leaves the cluster, and
// stops a local cluster's processes.
func (s *standalone) Close() error {
	var errs []error
	if s.backend != nil {
		errs = append(errs, s.backend.Close())
	}
	if s.stop != nil {
		s.stop()
	}
	// The executors go first, while the driver is still a member to hear
	// their goodbyes.
	if s.local != nil {
		errs = append(errs, s.local.close())
	}
	if s.member != nil {
		errs = append(errs, s.member.Close(time.Second))
	}
	s.watched.Wait()
	return errors.Join(errs...)
}

// thisProgram describes the running binary, for executors to run it.
func thisProgram() (*rpc.BinaryHeader, string, error) {
	p, err := program.This()
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
