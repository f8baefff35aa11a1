package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ClusterConfig configures a Cluster.
type ClusterConfig struct {
	// AppID names the application to executors.
	AppID string
	// Fingerprint digests the program's registered pipelines; executors
	// refuse a driver whose fingerprint differs from theirs.
	Fingerprint string
	// DialOptions dial executors: transport and per-call credentials.
	DialOptions []grpc.DialOption
	// ExecutorWait bounds how long a task waits while there is no executor
	// at all; zero means 30 s.
	ExecutorWait time.Duration
	// LocalityWait is how long a task waits for a slot on the executor
	// that holds its cached input before it takes any; zero means
	// DefaultLocalityWait, a negative value no wait.
	LocalityWait time.Duration
	// Logger receives the cluster's log; nil means slog.Default().
	Logger *slog.Logger
	// Program, if set, describes the driver's program: executors started
	// from another program run it as a worker, uploaded on first use.
	Program func() (header *rpc.BinaryHeader, path string, err error)
	// HeartbeatInterval is how often executors send a heartbeat; zero
	// means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long an executor may stay silent before it
	// counts as lost; zero means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
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

// ErrNoExecutors is returned by tasks that waited ExecutorWait while the
// cluster had no executor.
var ErrNoExecutors = errors.New("no executor in the cluster")

// Cluster is a Backend that runs tasks on executor processes. It holds one
// task stream per executor; a task goes to the executor with the most free
// slots, and a broken stream fails that executor's running tasks at once,
// to be retried elsewhere.
type Cluster struct {
	cfg      ClusterConfig
	ctx      context.Context // ends on Close, which ends every stream
	cancel   context.CancelFunc
	nextTask atomic.Uint64

	mu      sync.Mutex
	execs   map[string]*remoteExecutor
	waiters []chan *remoteExecutor // tasks waiting for a slot, first come first served
	// local holds, by executor, the tasks waiting for a slot on that one
	// (it holds their cached input); they go before the others.
	local  map[string][]chan *remoteExecutor
	onLost []func(name, location string, id uint64)
	onTask []func(TaskEvent)
	closed bool
}

// TaskEvent reports a finished task attempt: where it ran and how it ended.
type TaskEvent struct {
	StageID, Partition, Attempt int
	Kind                        executor.TaskKind
	Executor                    string // member name
	Duration                    time.Duration
	Err                         error
}

// NewCluster returns a Cluster without executors; AddExecutor adds them.
func NewCluster(cfg ClusterConfig) *Cluster {
	if cfg.ExecutorWait <= 0 {
		cfg.ExecutorWait = 30 * time.Second
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
	c := &Cluster{cfg: cfg, execs: make(map[string]*remoteExecutor), local: make(map[string][]chan *remoteExecutor)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.watchHeartbeats()
	return c
}

// watchHeartbeats loses the executors that stay silent longer than the
// heartbeat timeout, until the cluster closes.
func (c *Cluster) watchHeartbeats() {
	t := time.NewTicker(c.cfg.HeartbeatTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-t.C:
			c.mu.Lock()
			var silent []*remoteExecutor
			for _, e := range c.execs {
				if now.Sub(time.Unix(0, e.heard.Load())) > c.cfg.HeartbeatTimeout {
					silent = append(silent, e)
				}
			}
			for _, e := range silent {
				c.dropLocked(e, fmt.Errorf("no heartbeat for %v", c.cfg.HeartbeatTimeout))
			}
			c.mu.Unlock()
		}
	}
}

// OnLost registers f to be called with the name, RPC address and
// connection id of every executor that is lost (DAG.ExecutorLost). It is
// called with the cluster's lock held: it must not call the Cluster.
func (c *Cluster) OnLost(f func(name, location string, id uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLost = append(c.onLost, f)
}

// OnTask registers f to be called after every task attempt.
func (c *Cluster) OnTask(f func(TaskEvent)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onTask = append(c.onTask, f)
}

// Cores returns the task slots of the live executors.
func (c *Cluster) Cores() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.execs {
		n += e.cores
	}
	return n
}

// Executors returns the names of the live executors.
func (c *Cluster) Executors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.execs))
	for name := range c.execs {
		names = append(names, name)
	}
	return names
}

// ExecutorInfo describes a connected executor.
type ExecutorInfo struct {
	Name, Addr     string // member name, RPC address
	Cores, Running int
	// MemoryUsed, MemoryLimit and DiskUsed are of its block store, as its
	// last heartbeat said.
	MemoryUsed, MemoryLimit, DiskUsed int64
	LastHeard                         time.Time
}

// ExecutorInfos describes the connected executors, sorted by name.
func (c *Cluster) ExecutorInfos() []ExecutorInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ExecutorInfo, 0, len(c.execs))
	for _, e := range c.execs {
		info := ExecutorInfo{Name: e.name, Addr: e.addr, Cores: e.cores, Running: e.cores - e.free, LastHeard: time.Unix(0, e.heard.Load())}
		if hb := e.storage.Load(); hb != nil {
			info.MemoryUsed, info.MemoryLimit, info.DiskUsed = hb.MemoryUsed, hb.MemoryLimit, hb.DiskUsed
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ExecutorInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// AddExecutor connects to the executor at addr (its gRPC address) and
// opens its task stream. The executor refuses a driver of another program
// (a different fingerprint) with an error that says so.
func (c *Cluster) AddExecutor(ctx context.Context, name, addr string, cores int) error {
	if cores < 1 {
		return fmt.Errorf("scheduler: executor %s offers %d cores", name, cores)
	}
	conn, err := grpc.DialContext(ctx, addr, c.cfg.DialOptions...)
	if err != nil {
		return fmt.Errorf("scheduler: dial executor %s at %s: %w", name, addr, err)
	}
	sctx, cancel := context.WithCancel(c.ctx)
	e := &remoteExecutor{id: connections.Add(1), name: name, addr: addr, cores: cores, free: cores, conn: conn, cancel: cancel,
		defined: make(map[uint64]bool), pending: make(map[uint64]chan *rpc.TaskStatus), lost: make(chan struct{})}
	fail := func(err error) error {
		cancel()
		conn.Close()
		return fmt.Errorf("scheduler: executor %s at %s: %w", name, addr, err)
	}
	e.stream, err = c.handshake(ctx, sctx, conn)
	if status.Code(err) == codes.NotFound && c.cfg.Program != nil {
		// The executor runs another program and lacks ours: upload it.
		if err = c.upload(ctx, conn); err == nil {
			e.stream, err = c.handshake(ctx, sctx, conn)
		}
	}
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(errors.New("cluster closed"))
	}
	if old, ok := c.execs[name]; ok {
		c.dropLocked(old, errors.New("replaced by a new connection"))
	}
	e.heard.Store(time.Now().UnixNano())
	c.execs[name] = e
	c.dispatchLocked()
	c.mu.Unlock()
	go c.receive(e)
	c.cfg.Logger.Debug("executor added", "executor", name, "rpc", addr, "cores", cores)
	return nil
}

// handshake opens a task stream on conn, which lasts as long as sctx, and
// waits at most as long as ctx for the executor's welcome.
func (c *Cluster) handshake(ctx, sctx context.Context, conn *grpc.ClientConn) (rpc.Executor_ConnectClient, error) {
	stream, err := rpc.NewExecutorClient(conn).Connect(sctx)
	if err != nil {
		return nil, err
	}
	hello := &rpc.Hello{AppId: c.cfg.AppID, Fingerprint: c.cfg.Fingerprint, HeartbeatMs: c.cfg.HeartbeatInterval.Milliseconds()}
	if c.cfg.Program != nil {
		if hello.Binary, _, err = c.cfg.Program(); err != nil {
			return nil, err
		}
	}
	if err := stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Hello{Hello: hello}}); err != nil {
		return nil, err
	}
	welcomed := make(chan error, 1)
	go func() {
		m, err := stream.Recv()
		if err == nil && m.GetWelcome() == nil {
			err = errors.New("the executor did not answer the handshake")
		}
		welcomed <- err
	}()
	select {
	case err = <-welcomed:
	case <-ctx.Done():
		err = ctx.Err()
	}
	return stream, err
}

// upload sends the driver's program to the executor on conn.
func (c *Cluster) upload(ctx context.Context, conn *grpc.ClientConn) error {
	header, path, err := c.cfg.Program()
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("upload the driver's program: %w", err)
	}
	defer f.Close()
	up, err := rpc.NewExecutorClient(conn).Upload(ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	chunk := &rpc.BinaryChunk{Header: header}
	for {
		n, err := f.Read(buf)
		if n > 0 {
			chunk.Data = buf[:n]
			if err := up.Send(chunk); err != nil {
				_, rerr := up.CloseAndRecv() // the executor's reason
				return fmt.Errorf("upload the driver's program: %w", errors.Join(rerr, err))
			}
			chunk = &rpc.BinaryChunk{}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("upload the driver's program: %w", err)
		}
	}
	if _, err := up.CloseAndRecv(); err != nil {
		return fmt.Errorf("upload the driver's program: %w", err)
	}
	c.cfg.Logger.Info("program uploaded", "sha256", header.Sha256, "bytes", header.Size)
	return nil
}

// RemoveExecutor drops an executor (it left or failed): its running tasks
// fail with ErrExecutorLost, and its map outputs are forgotten.
func (c *Cluster) RemoveExecutor(name string, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.execs[name]; ok {
		c.dropLocked(e, cause)
	}
}

// drop loses e, if it is still the executor of its name: a connection
// that was replaced must not take its successor down with it.
func (c *Cluster) drop(e *remoteExecutor, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(e, cause)
}

// dropLocked forgets e and fails its tasks, once. c.mu is held.
func (c *Cluster) dropLocked(e *remoteExecutor, cause error) {
	e.mu.Lock()
	already := e.lostErr != nil
	if !already {
		e.lostErr = fmt.Errorf("%w: %s at %s: %v", ErrExecutorLost, e.name, e.addr, cause)
		close(e.lost)
	}
	e.mu.Unlock()
	if already {
		return
	}
	replaced := c.execs[e.name] != e
	if !replaced {
		delete(c.execs, e.name)
	}
	e.cancel()
	e.conn.Close()
	if !replaced {
		// Tasks waiting for it wait for any executor now.
		c.waiters = append(c.local[e.name], c.waiters...)
		delete(c.local, e.name)
		c.dispatchLocked()
	}
	// Synchronously, so that what it held is forgotten before any task
	// that ran there reports (the DAG then refuses their reports too).
	for _, f := range c.onLost {
		f(e.name, e.addr, e.id)
	}
	c.cfg.Logger.Warn("executor lost", "executor", e.name, "rpc", e.addr, "cause", cause)
}

// receive reads e's task statuses until its stream ends, which loses e.
func (c *Cluster) receive(e *remoteExecutor) {
	for {
		m, err := e.stream.Recv()
		e.heard.Store(time.Now().UnixNano())
		if err != nil {
			if c.ctx.Err() != nil {
				return // the cluster is closing
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the executor closed its task stream")
			}
			c.drop(e, err)
			return
		}
		if hb := m.GetHeartbeat(); hb != nil {
			e.storage.Store(hb)
		}
		st := m.GetStatus()
		if st == nil {
			continue
		}
		e.mu.Lock()
		pt, ok := e.pending[st.TaskId]
		delete(e.pending, st.TaskId)
		e.mu.Unlock()
		if !ok {
			continue
		}
		pt <- st
	}
}

// Run runs t on an executor, once one has a free slot.
func (c *Cluster) Run(ctx context.Context, t *executor.Task) (any, error) {
	if t.Job == nil {
		return nil, Permanent(errors.New("the task's job cannot run on a cluster: it was not built inside a registered pipeline"))
	}
	preferred := "" // the executor that holds the task's nearest cached input
	if len(t.Cached) > 0 {
		preferred = t.Cached[0].Executor
	}
	e, err := c.acquire(ctx, preferred)
	if err != nil {
		return nil, err
	}
	defer c.release(e)
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

func (c *Cluster) runOn(ctx context.Context, e *remoteExecutor, t *executor.Task) (any, error) {
	launch, err := c.launchMessage(t, e)
	if err != nil {
		return nil, err
	}
	ch := make(chan *rpc.TaskStatus, 1)
	e.mu.Lock()
	e.pending[launch.TaskId] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.pending, launch.TaskId)
		e.mu.Unlock()
	}()
	if err := e.send(t.Job, launch); err != nil {
		c.drop(e, err)
		return nil, e.lostError()
	}
	select {
	case st := <-ch:
		t.Stored = t.Stored[:0]
		for _, b := range st.Stored {
			t.Stored = append(t.Stored, executor.StoredBlock{ID: b.GetId(), Memory: b.GetMemory(), Disk: b.GetDisk()})
		}
		t.Metrics = executor.TaskMetricsOf(st.Metrics)
		res, err := decodeStatus(t, st)
		// A finished task's additions count, once: a failed attempt's
		// do not, and a partition's result is delivered once.
		if err == nil && t.Job.Accumulated != nil && len(st.Accumulators) > 0 {
			t.Job.Accumulated(st.Accumulators)
		}
		return res, err
	case <-e.lost:
		return nil, e.lostError()
	case <-ctx.Done():
		// Wait, within bounds, for the task to stop: the caller may clean
		// up what the task writes once Run returns.
		e.sendKill(launch.TaskId)
		select {
		case <-ch:
		case <-e.lost:
		case <-time.After(killWait):
		}
		return nil, ctx.Err()
	}
}

// killWait bounds the wait for a cancelled task to stop.
const killWait = 5 * time.Second

// launchMessage describes t to executor e, with the map outputs it reads
// and the other executors that hold its cached input.
func (c *Cluster) launchMessage(t *executor.Task, e *remoteExecutor) (*rpc.LaunchTask, error) {
	var cached map[string]string
	if len(t.Cached) > 0 {
		c.mu.Lock()
		for _, b := range t.Cached {
			if at := c.execs[b.Executor]; at != nil && at != e {
				if cached == nil {
					cached = make(map[string]string)
				}
				cached[string(storage.RDDBlock(b.RDD, b.Partition))] = at.addr
			}
		}
		c.mu.Unlock()
	}
	m := &rpc.LaunchTask{Cached: cached,
		TaskId: c.nextTask.Add(1), JobKey: t.Job.Key, Kind: rpc.LaunchTask_Kind(t.Kind),
		ShuffleId: int64(t.ShuffleID), StageId: int32(t.StageID), Partition: int32(t.Partition),
		Attempt: int32(t.Attempt), Partitioner: t.Partitioner,
	}
	for _, id := range t.Reads {
		statuses, err := t.MapOutputs(id)
		if err != nil {
			return nil, err
		}
		outs := &rpc.ShuffleOutputs{ShuffleId: int64(id)}
		for _, st := range statuses {
			outs.Outputs = append(outs.Outputs, MapOutputMessage(st))
		}
		m.Inputs = append(m.Inputs, outs)
	}
	return m, nil
}

// MapOutputMessage is the wire form of a map status.
func MapOutputMessage(st *shuffle.MapStatus) *rpc.MapOutput {
	return &rpc.MapOutput{MapId: int32(st.MapID), Location: st.Location, Epoch: st.Epoch, Sizes: st.Sizes, Rows: st.Rows}
}

// MapStatusOf reads a map status from the wire.
func MapStatusOf(shuffleID int, m *rpc.MapOutput) *shuffle.MapStatus {
	return &shuffle.MapStatus{ShuffleID: shuffleID, MapID: int(m.MapId), Location: m.Location, Epoch: m.Epoch, Sizes: m.Sizes, Rows: m.Rows}
}

// decodeStatus turns an executor's report into the task's result or error.
func decodeStatus(t *executor.Task, st *rpc.TaskStatus) (any, error) {
	if st.State == rpc.TaskStatus_FAILED {
		return nil, TaskErrorOf(st.Error)
	}
	if t.Kind == executor.MapTask {
		if st.MapOutput == nil {
			return nil, errors.New("the executor reported no map output")
		}
		return *MapStatusOf(t.ShuffleID, st.MapOutput), nil
	}
	return t.Job.Decode(st.Result)
}

// TaskErrorOf rebuilds a task's error from the wire, keeping what the
// scheduler acts on: fetch failures, permanence, panics.
func TaskErrorOf(e *rpc.TaskError) error {
	msg := e.GetMessage()
	switch e.GetKind() {
	case rpc.TaskError_FETCH_FAILED:
		return &FetchFailedError{ShuffleID: int(e.ShuffleId), MapID: int(e.MapId), Epoch: e.Epoch, Err: errors.New(msg)}
	case rpc.TaskError_PERMANENT:
		return Permanent(errors.New(msg))
	case rpc.TaskError_PANIC:
		return &executor.PanicError{Value: msg, Where: e.PanicWhere, Stack: e.PanicStack}
	}
	return errors.New(msg)
}

// TaskErrorMessage is the wire form of a task's error.
func TaskErrorMessage(err error) *rpc.TaskError {
	m := &rpc.TaskError{Message: err.Error()}
	var ff *FetchFailedError
	var pe *executor.PanicError
	switch {
	case errors.As(err, &ff):
		// The driver rebuilds the FetchFailedError around the cause.
		m.Kind, m.ShuffleId, m.MapId, m.Epoch = rpc.TaskError_FETCH_FAILED, int64(ff.ShuffleID), int32(ff.MapID), ff.Epoch
		if ff.Err != nil {
			m.Message = ff.Err.Error()
		}
	case errors.As(err, &pe):
		m.Kind, m.Message, m.PanicWhere, m.PanicStack = rpc.TaskError_PANIC, fmt.Sprint(pe.Value), pe.Where, pe.Stack
	case IsPermanent(err):
		m.Kind = rpc.TaskError_PERMANENT
	}
	return m
}

// acquire takes a slot on the preferred executor if it has one free or
// frees one within LocalityWait, and otherwise on the executor with the
// most free slots, waiting for one to free. While the cluster has no
// executor at all, it waits at most ExecutorWait.
func (c *Cluster) acquire(ctx context.Context, preferred string) (*remoteExecutor, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("scheduler: cluster closed")
	}
	var w chan *remoteExecutor
	if e := c.execs[preferred]; e != nil && c.cfg.LocalityWait > 0 {
		if e.free > 0 {
			e.free--
			c.mu.Unlock()
			return e, nil
		}
		w = make(chan *remoteExecutor, 1)
		c.local[preferred] = append(c.local[preferred], w)
		c.mu.Unlock()
		timer := time.NewTimer(c.cfg.LocalityWait)
		select {
		case e := <-w:
			timer.Stop()
			return e, nil
		case <-timer.C:
		case <-e.lost: // wait for any executor now
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			if !c.abandonLocal(preferred, w) {
				c.abandon(w) // handed a slot, or moved to the others' queue
			}
			return nil, ctx.Err()
		}
		c.mu.Lock()
		if c.takeLocalLocked(preferred, w) {
			// Still waiting for that executor: join the others instead.
			c.waiters = append(c.waiters, w)
		}
		// Otherwise w was handed a slot as the wait ended, or the executor
		// was lost and w joined the others' queue: either way the loop
		// below receives it.
	}
	if w == nil {
		if e := c.pickLocked(); e != nil && len(c.waiters) == 0 {
			e.free--
			c.mu.Unlock()
			return e, nil
		}
		w = make(chan *remoteExecutor, 1)
		c.waiters = append(c.waiters, w)
	}
	c.dispatchLocked()
	c.mu.Unlock()
	timer := time.NewTimer(c.cfg.ExecutorWait)
	defer timer.Stop()
	for {
		select {
		case e := <-w:
			return e, nil
		case <-timer.C:
			c.mu.Lock()
			none := len(c.execs) == 0
			c.mu.Unlock()
			if !none {
				timer.Reset(c.cfg.ExecutorWait)
				continue
			}
			// Retrying cannot help: the job fails now rather than after
			// every attempt's wait.
			err := Permanent(fmt.Errorf("scheduler: %w for %v", ErrNoExecutors, c.cfg.ExecutorWait))
			c.abandon(w)
			return nil, err
		case <-ctx.Done():
			c.abandon(w)
			return nil, ctx.Err()
		case <-c.ctx.Done():
			c.abandon(w)
			return nil, errors.New("scheduler: cluster closed")
		}
	}
}

// abandonLocal takes w off the tasks waiting for the named executor and
// reports whether it was still there; if not, a slot was handed to it.
func (c *Cluster) abandonLocal(name string, w chan *remoteExecutor) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeLocalLocked(name, w)
}

// takeLocalLocked is abandonLocal with c.mu held.
func (c *Cluster) takeLocalLocked(name string, w chan *remoteExecutor) bool {
	ws := c.local[name]
	for i, x := range ws {
		if x == w {
			c.local[name] = append(ws[:i], ws[i+1:]...)
			return true
		}
	}
	return false
}

// abandon takes w off the waiters; a slot handed to it meanwhile is given
// back.
func (c *Cluster) abandon(w chan *remoteExecutor) {
	c.mu.Lock()
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	c.release(<-w)
}

func (c *Cluster) release(e *remoteExecutor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.execs[e.name] != e {
		return // lost: its slots went with it
	}
	e.free++
	c.dispatchLocked()
}

// dispatchLocked hands free slots to waiting tasks: first to those that
// wait for their executor, then to the others in order. c.mu is held.
func (c *Cluster) dispatchLocked() {
	for name, ws := range c.local {
		e := c.execs[name]
		for e != nil && e.free > 0 && len(ws) > 0 {
			e.free--
			ws[0] <- e
			ws = ws[1:]
		}
		if len(ws) == 0 {
			delete(c.local, name)
		} else {
			c.local[name] = ws
		}
	}
	for len(c.waiters) > 0 {
		e := c.pickLocked()
		if e == nil {
			return
		}
		e.free--
		w := c.waiters[0]
		c.waiters = c.waiters[1:]
		w <- e
	}
}

// pickLocked returns the live executor with the most free slots, or nil.
func (c *Cluster) pickLocked() *remoteExecutor {
	var best *remoteExecutor
	for _, e := range c.execs {
		if e.free > 0 && (best == nil || e.free > best.free || e.free == best.free && e.name < best.name) {
			best = e
		}
	}
	return best
}

// Close ends every task stream, which tells executors that the
// application is over.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	execs := c.execs
	c.execs = map[string]*remoteExecutor{}
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
func (c *Cluster) Unpersist(rddID int) {
	c.mu.Lock()
	execs := make([]*remoteExecutor, 0, len(c.execs))
	for _, e := range c.execs {
		execs = append(execs, e)
	}
	c.mu.Unlock()
	m := &rpc.DriverMessage{Body: &rpc.DriverMessage_Unpersist{Unpersist: &rpc.Unpersist{RddId: int64(rddID)}}}
	for _, e := range execs {
		e.sendMu.Lock()
		_ = e.stream.Send(m) // a broken stream loses the executor, and its blocks with it
		e.sendMu.Unlock()
	}
}

// connections numbers the executor connections of this process.
var connections atomic.Uint64

// remoteExecutor is the driver's side of one executor's task stream.
type remoteExecutor struct {
	id          uint64 // of the connection, unique in the process
	name, addr  string
	cores, free int // free is guarded by Cluster.mu
	conn        *grpc.ClientConn
	stream      rpc.Executor_ConnectClient
	cancel      context.CancelFunc

	sendMu  sync.Mutex
	defined map[uint64]bool // jobs described on the stream; guarded by sendMu

	mu      sync.Mutex
	pending map[uint64]chan *rpc.TaskStatus // tasks launched, waiting for their status
	lost    chan struct{}
	lostErr error
	heard   atomic.Int64                  // when the executor last sent anything, in Unix ns
	storage atomic.Pointer[rpc.Heartbeat] // the last heartbeat, if any
}

// send launches a task, describing its job first if the stream has not.
func (e *remoteExecutor) send(job *executor.JobSpec, launch *rpc.LaunchTask) error {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	if !e.defined[job.Key] {
		def := &rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: job.Define()}}
		if err := e.stream.Send(def); err != nil {
			return err
		}
		e.defined[job.Key] = true
	}
	return e.stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: launch}})
}

func (e *remoteExecutor) sendKill(taskID uint64) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	_ = e.stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Kill{Kill: &rpc.KillTask{TaskId: taskID}}})
}

func (e *remoteExecutor) lostError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lostErr == nil {
		return fmt.Errorf("%w: %s at %s", ErrExecutorLost, e.name, e.addr)
	}
	return e.lostErr
}
