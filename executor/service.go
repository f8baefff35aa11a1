package executor

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/wire"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// taskService is the executor's side of the driver's task streams.
type taskService struct {
	rpc.UnimplementedExecutorServer
	d *Daemon
}

// Connect serves one driver's application for as long as its stream lasts.
// When the stream ends, the application's running tasks are cancelled and
// its shuffle files removed.
func (s *taskService) Connect(stream rpc.Executor_ConnectServer) error {
	d := s.d
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if err := checkHello(hello); err != nil {
		return err
	}
	app := &application{id: hello.AppId, d: d, stream: stream, defs: make(map[uint64]*rpc.DefineJob),
		running: make(map[uint64]context.CancelFunc), shuffles: make(map[int]bool), rdds: make(map[int]bool),
		relayed: make(map[uint64]time.Time)}
	if d.runner == nil || hello.Fingerprint != d.runner.Fingerprint() {
		return s.serveByWorker(stream, hello, app)
	}
	if err := app.sendLocked(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Welcome{Welcome: &rpc.Welcome{Executor: d.Name(), Cores: int32(d.cfg.Cores)}}}); err != nil {
		return err
	}
	d.cfg.Logger.Info("application connected", "app", app.id)
	ctx, cancel := context.WithCancel(stream.Context())
	if hello.HeartbeatMs > 0 {
		go app.heartbeat(ctx, time.Duration(hello.HeartbeatMs)*time.Millisecond)
	}
	defer func() {
		cancel()
		app.wg.Wait()
		app.cleanUp()
		d.cfg.Logger.Info("application ended", "app", app.id)
	}()
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil // the driver is done or gone: either way the application ends
		}
		if ok, err := app.admit(m); !ok {
			if err != nil {
				return err
			}
			continue
		}
		switch b := m.Body.(type) {
		case *rpc.DriverMessage_Define:
			app.mu.Lock()
			app.defs[b.Define.JobKey] = b.Define
			for _, id := range b.Define.RddIds {
				app.rdds[int(id)] = true
			}
			app.mu.Unlock()
		case *rpc.DriverMessage_Unpersist:
			d.blocks.RemoveRDD(int(b.Unpersist.RddId))
		case *rpc.DriverMessage_JobEnded:
			app.mu.Lock()
			delete(app.defs, b.JobEnded.JobKey) // running tasks keep theirs
			app.mu.Unlock()
		case *rpc.DriverMessage_Launch:
			app.launch(ctx, b.Launch)
		case *rpc.DriverMessage_Kill:
			app.mu.Lock()
			if stop := app.running[b.Kill.TaskId]; stop != nil {
				stop()
			}
			app.mu.Unlock()
		}
	}
}

// application is one driver's use of the executor.
type application struct {
	id     string
	d      *Daemon
	stream rpc.Executor_ConnectServer
	sendMu sync.Mutex
	wg     sync.WaitGroup

	mu       sync.Mutex
	defs     map[uint64]*rpc.DefineJob
	running  map[uint64]context.CancelFunc
	shuffles map[int]bool // written here, removed when the application ends
	rdds     map[int]bool // the application's RDDs, whose cached blocks go too
	// relayed holds when each task launched on the application's worker
	// began, so that the executor's metrics count the worker's tasks.
	relayed map[uint64]time.Time
}

// heartbeat tells the driver every interval that the executor is alive,
// until ctx ends.
func (a *application) heartbeat(ctx context.Context, interval time.Duration) {
	defer auth.Recover("the heartbeat of application "+a.id, nil)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			mem, limit, disk := a.d.blocks.Usage()
			budget := a.d.budget.Usage()
			beat := &rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Heartbeat{Heartbeat: &rpc.Heartbeat{
				MemoryUsed: mem, MemoryLimit: limit, DiskUsed: disk, MemoryBudget: budget.Total, ExecutionUsed: budget.Execution}}}
			if a.send(beat) != nil {
				return
			}
		}
	}
}

func (a *application) launch(ctx context.Context, m *rpc.LaunchTask) {
	select {
	case a.d.queue <- struct{}{}:
	default:
		// A flood of launches fails, rather than a goroutine apiece.
		st := failed(fmt.Errorf("executor %s has %d tasks launched and not finished, its limit: task %d refused", a.d.Name(), cap(a.d.queue), m.TaskId))
		st.TaskId = m.TaskId
		a.send(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Status{Status: st}})
		return
	}
	a.mu.Lock()
	def := a.defs[m.JobKey]
	tctx, stop := context.WithCancel(ctx)
	a.running[m.TaskId] = stop
	if m.Kind == rpc.LaunchTask_MAP {
		a.shuffles[int(m.ShuffleId)] = true
	}
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer auth.Recover(fmt.Sprintf("task %d", m.TaskId), nil)
		defer func() { <-a.d.queue }()
		defer func() {
			stop()
			a.mu.Lock()
			delete(a.running, m.TaskId)
			a.mu.Unlock()
		}()
		start := time.Now()
		st := a.run(tctx, def, m)
		st.TaskId = m.TaskId
		took := time.Since(start)
		a.d.cfg.Logger.Debug("task ended", "app", a.id, "stage", m.StageId, "partition", m.Partition, "attempt", m.Attempt,
			"state", st.State.String(), "took", took)
		if a.d.metrics != nil {
			a.d.metrics.taskEnded(st.State == rpc.TaskStatus_FAILED, took, wire.MetricsOf(st.Metrics))
		}
		if err := a.send(&rpc.ExecutorMessage{Body: &rpc.ExecutorMessage_Status{Status: st}}); err != nil {
			a.d.cfg.Logger.Debug("task status not sent", "app", a.id, "task", m.TaskId, "err", err)
		}
	}()
}

// run waits for a slot and runs the task.
func (a *application) run(ctx context.Context, def *rpc.DefineJob, m *rpc.LaunchTask) (st *rpc.TaskStatus) {
	if def == nil {
		return failed(fmt.Errorf("task %d names job %d, which the driver did not define", m.TaskId, m.JobKey))
	}
	select {
	case a.d.slots <- struct{}{}:
	case <-ctx.Done():
		return failed(ctx.Err())
	}
	defer func() { <-a.d.slots }()
	inputs := make(map[int][]*shuffle.MapStatus, len(m.Inputs))
	for _, in := range m.Inputs {
		outs := make([]*shuffle.MapStatus, len(in.Outputs))
		for i, o := range in.Outputs {
			outs[i] = &shuffle.MapStatus{ShuffleID: int(in.ShuffleId), MapID: int(o.MapId), Location: o.Location,
				Epoch: o.Epoch, Sizes: o.Sizes, Rows: o.Rows}
		}
		inputs[int(in.ShuffleId)] = outs
	}
	t := &task.Task{
		StageID: int(m.StageId), Partition: int(m.Partition), Attempt: int(m.Attempt),
		Kind: task.Kind(m.Kind), ShuffleID: int(m.ShuffleId), Partitioner: m.Partitioner, Locations: m.Cached,
		MapOutputs: func(id int) ([]*shuffle.MapStatus, error) {
			outs, ok := inputs[id]
			if !ok {
				return nil, fmt.Errorf("executor: the driver sent no map outputs of shuffle %d", id)
			}
			return outs, nil
		},
	}
	tc := task.NewContext(ctx, t, a.d.env, a.d.Name(), a.id)
	defer tc.End()
	a.d.cfg.Logger.Debug("task started", "app", a.id, "job", def.Pipeline, "stage", t.StageID, "partition", t.Partition, "attempt", t.Attempt)
	defer func() {
		if v := recover(); v != nil {
			pe := task.NewPanicError(v)
			st = &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: &rpc.TaskError{
				Kind: rpc.TaskError_PANIC, Message: fmt.Sprint(pe.Value), PanicWhere: pe.Where, PanicStack: pe.Stack}}
		}
	}()
	st = a.d.runner.RunTask(tc, def)
	for _, b := range tc.StoredBlocks() {
		st.Stored = append(st.Stored, &rpc.StoredBlock{Id: b.ID, Memory: b.Memory, Disk: b.Disk})
	}
	st.Metrics = wire.MetricsMessage(tc.Metrics())
	if st.State == rpc.TaskStatus_FINISHED && st.MapOutput != nil {
		st.MapOutput.Location = a.d.location
	}
	return st
}

func failed(err error) *rpc.TaskStatus {
	return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: &rpc.TaskError{Message: err.Error()}}
}

func (a *application) send(m *rpc.ExecutorMessage) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	return a.sendLocked(m)
}

func (a *application) sendLocked(m *rpc.ExecutorMessage) error { return a.stream.Send(m) }

// cleanUp removes the application's shuffle files and cached blocks: with
// its driver gone, nobody will read them.
func (a *application) cleanUp() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.rdds {
		a.d.blocks.RemoveRDD(id)
	}
	for id := range a.shuffles {
		if err := a.d.shuffle.RemoveShuffle(id); err != nil {
			a.d.cfg.Logger.Warn("removing shuffle files", "app", a.id, "shuffle", id, "err", err)
		}
	}
}

// blockFetcher reads shuffle blocks from this executor's files when it
// holds them, and from other executors over Flight otherwise.
type blockFetcher struct {
	self   string // this executor's RPC address
	local  *shuffle.Manager
	remote *shuffle.RemoteFetcher
}

func (f *blockFetcher) Fetch(ctx context.Context, ref shuffle.BlockRef) iter.Seq2[arrow.Record, error] {
	if ref.Location == "" || ref.Location == f.self {
		return f.local.Fetch(ctx, ref)
	}
	return f.remote.Fetch(ctx, ref)
}
