package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/task"
	"google.golang.org/grpc"
)

// clusterBackendConfig configures a Cluster.
type clusterBackendConfig struct {
	// AppID names the application to executors.
	AppID string
	// Fingerprint digests the program's registered pipelines; executors
	// refuse a driver whose fingerprint differs from theirs.
	Fingerprint string
	// DialOptions dial executors: transport and per-call credentials.
	DialOptions []grpc.DialOption
	// ExecutorWait bounds how long a task waits while there is no executor
	// at all; zero means DefaultExecutorWait.
	ExecutorWait time.Duration
	// LocalityWait is how long a task waits for a slot on the executor
	// that holds its cached input before it takes any; zero means
	// DefaultLocalityWait, a negative value no wait.
	LocalityWait time.Duration
	// Logger receives the cluster's log; nil means slog.Default().
	Logger *slog.Logger
	// program, if set, describes the driver's program: executors started
	// from another program run it as a worker, uploaded on first use.
	program func() (header *rpc.BinaryHeader, path string, err error)
	// HeartbeatInterval is how often executors send a heartbeat; zero
	// means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long an executor may stay silent before it
	// counts as lost; zero means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// whyLost, if set, says why the executor of a name was lost when the
	// driver can tell (it started the process): an error that wraps
	// ErrExitCausedByTask if the process exited by itself, nil otherwise.
	// It may wait a moment to learn.
	whyLost func(name string) error
}

// Defaults of the heartbeats.
const (
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
)

// DefaultLocalityWait is ClusterConfig.LocalityWait's default.
const DefaultLocalityWait = time.Second

// ErrExecutorLost is wrapped by the error of a task whose executor was
// lost while it ran: its connection broke or it left the cluster.
var ErrExecutorLost = errors.New("executor lost")

// ErrExitCausedByTask is wrapped, with ErrExecutorLost, by the error of a
// task whose executor (or the executor's worker process) exited by itself
// while the task ran: a crash or an os.Exit, not a signal from outside.
// As Spark's ExecutorLostFailure with exitCausedByApp, such an attempt
// counts against task.maxFailures; other losses do not.
var ErrExitCausedByTask = errors.New("exit caused by a running task")

// ErrNoExecutors is returned by tasks that waited ExecutorWait while the
// cluster had no executor.
var ErrNoExecutors = errors.New("no executor in the cluster")

// clusterBackend is a Backend that runs tasks on executor processes. It holds one
// task stream per executor; a task goes to the executor with the most free
// slots, and a broken stream fails that executor's running tasks at once,
// to be retried elsewhere.
type clusterBackend struct {
	cfg      clusterBackendConfig
	ctx      context.Context // ends on Close, which ends every stream
	cancel   context.CancelFunc
	nextTask atomic.Uint64
	slots    *slotPool // the executors' free slots and the tasks waiting for one

	mu     sync.Mutex                 // may be held while taking slots.mu, not the other way round
	execs  map[string]*remoteExecutor // the connected executors; slots holds the same
	onLost []func(name, location string, id uint64)
	onTask []func(TaskEvent)
	closed bool
	hooks  clusterHooks
}

// clusterHooks let tests wait for what they check. Each is set under
// Cluster.mu and called with it held.
type clusterHooks struct {
	swept       func(now time.Time)     // after each heartbeat sweep, of that time
	streamEnded func(e *remoteExecutor) // after e's task stream ended, which dropped e
}

// TaskEvent reports a finished task attempt: where it ran and how it ended.
type TaskEvent struct {
	StageID, Partition, Attempt int
	Kind                        task.Kind
	Executor                    string // member name
	Duration                    time.Duration
	Err                         error
}

// newClusterBackend returns a Cluster without executors; AddExecutor adds them.
func newClusterBackend(cfg clusterBackendConfig) *clusterBackend {
	if cfg.ExecutorWait <= 0 {
		cfg.ExecutorWait = DefaultExecutorWait
	}
	if cfg.LocalityWait == 0 {
		cfg.LocalityWait = DefaultLocalityWait
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &clusterBackend{cfg: cfg, execs: make(map[string]*remoteExecutor)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.slots = newSlotPool(cfg.LocalityWait, cfg.ExecutorWait, c.ctx.Done())
	go c.watchHeartbeats()
	return c
}

// OnLost registers f to be called with the name, RPC address and
// connection id of every executor that is lost (DAG.ExecutorLost). It is
// called with the cluster's lock held: it must not call the Cluster.
func (c *clusterBackend) OnLost(f func(name, location string, id uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLost = append(c.onLost, f)
}

// OnTask registers f to be called after every task attempt.
func (c *clusterBackend) OnTask(f func(TaskEvent)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onTask = append(c.onTask, f)
}

// Cores returns the task slots of the live executors.
func (c *clusterBackend) Cores() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.execs {
		n += e.cores
	}
	return n
}

// Executors returns the names of the live executors.
func (c *clusterBackend) Executors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.execs))
	for name := range c.execs {
		names = append(names, name)
	}
	return names
}

// executorInfo describes a connected executor.
type executorInfo struct {
	Name, Addr     string // member name, RPC address
	Cores, Running int
	// MemoryUsed, MemoryLimit and DiskUsed are of its block store, as its
	// last heartbeat said.
	MemoryUsed, MemoryLimit, DiskUsed int64
	// MemoryBudget and ExecutionUsed are its memory budget and what its
	// running tasks hold of it.
	MemoryBudget, ExecutionUsed int64
	LastHeard                   time.Time
}

// ExecutorInfos describes the connected executors, sorted by name.
func (c *clusterBackend) ExecutorInfos() []executorInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]executorInfo, 0, len(c.execs))
	for _, e := range c.execs {
		info := executorInfo{Name: e.name, Addr: e.addr, Cores: e.cores, Running: c.slots.busy(e), LastHeard: time.Unix(0, e.heard.Load())}
		if hb := e.storage.Load(); hb != nil {
			info.MemoryUsed, info.MemoryLimit, info.DiskUsed = hb.MemoryUsed, hb.MemoryLimit, hb.DiskUsed
			info.MemoryBudget, info.ExecutionUsed = hb.MemoryBudget, hb.ExecutionUsed
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b executorInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// AddExecutor connects to the executor at addr (its gRPC address) and
// opens its task stream. The executor refuses a driver of another program
// (a different fingerprint) with an error that says so.
func (c *clusterBackend) AddExecutor(ctx context.Context, name, addr string, cores int) error {
	if cores < 1 {
		return fmt.Errorf("scheduler: executor %s offers %d cores", name, cores)
	}
	e, err := c.connect(ctx, name, addr, cores)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return e.abort(errors.New("cluster closed"))
	}
	if old, ok := c.execs[name]; ok {
		c.dropLocked(old, errors.New("replaced by a new connection"))
	}
	e.heard.Store(time.Now().UnixNano())
	c.execs[name] = e
	c.slots.add(e)
	c.mu.Unlock()
	go c.receive(e)
	c.cfg.Logger.Debug("executor added", "executor", name, "rpc", addr, "cores", cores)
	return nil
}

// RemoveExecutor drops an executor (it left or failed): its running tasks
// fail with ErrExecutorLost, and its map outputs are forgotten.
func (c *clusterBackend) RemoveExecutor(name string, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.execs[name]; ok {
		c.dropLocked(e, cause)
	}
}

// Run runs t on an executor, once one has a free slot.
func (c *clusterBackend) Run(ctx context.Context, t *task.Task) (any, error) {
	if t.Job == nil {
		return nil, task.Permanent(errors.New("the task's job cannot run on a cluster: it was not built inside a registered pipeline"))
	}
	preferred := "" // the executor that holds the task's nearest cached input
	if len(t.Cached) > 0 {
		preferred = t.Cached[0].Executor
	}
	e, err := c.slots.acquire(ctx, preferred)
	if err != nil {
		return nil, err
	}
	defer c.slots.release(e)
	t.RanOn, t.RanOnID = e.name, e.id
	t.Launched = time.Now()
	if t.Started != nil {
		t.Started()
	}
	start := time.Now()
	res, err := c.runOn(ctx, e, t)
	c.mu.Lock()
	hooks := c.onTask
	c.mu.Unlock()
	for _, f := range hooks {
		f(TaskEvent{StageID: t.StageID, Partition: t.Partition, Attempt: t.Attempt, Kind: t.Kind,
			Executor: e.name, Duration: time.Since(start), Err: err})
	}
	return res, err
}

// Close ends every task stream, which tells executors that the
// application is over.
func (c *clusterBackend) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	execs := c.execs
	c.execs = map[string]*remoteExecutor{}
	c.slots.close()
	c.mu.Unlock()
	// Cancelling the streams ends them, which tells the executors that
	// the application is over; a send stuck on a stalled executor ends
	// with them.
	c.cancel()
	for _, e := range execs {
		_ = e.conn.Close()
	}
	return nil
}

// Unpersist tells every executor to drop the cached partitions of an RDD.
func (c *clusterBackend) Unpersist(rddID int) {
	m := &rpc.DriverMessage{Body: &rpc.DriverMessage_Unpersist{Unpersist: &rpc.Unpersist{RddId: int64(rddID)}}}
	for _, e := range c.live() {
		e.sendMu.Lock()
		_ = e.stream.Send(m) // a broken stream loses the executor, and its blocks with it
		e.sendMu.Unlock()
	}
}

// JobEnded tells the executors that were sent the definition of a job
// that its tasks are over, so that they drop it: a definition carries the
// results of the pipeline's earlier jobs and the driver's values, and an
// application runs many jobs.
func (c *clusterBackend) JobEnded(key uint64) {
	m := &rpc.DriverMessage{Body: &rpc.DriverMessage_JobEnded{JobEnded: &rpc.JobEnded{JobKey: key}}}
	for _, e := range c.live() {
		e.sendMu.Lock()
		if e.defined[key] {
			delete(e.defined, key) // defined again if more of its tasks come
			_ = e.stream.Send(m)
		}
		e.sendMu.Unlock()
	}
}

// live returns the connected executors.
func (c *clusterBackend) live() []*remoteExecutor {
	c.mu.Lock()
	defer c.mu.Unlock()
	execs := make([]*remoteExecutor, 0, len(c.execs))
	for _, e := range c.execs {
		execs = append(execs, e)
	}
	return execs
}
