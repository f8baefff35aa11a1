package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-go/ember/internal/replay"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// connections numbers the executor connections of this process.
var connections atomic.Uint64

// remoteExecutor is the driver's side of one executor's task stream.
type remoteExecutor struct {
	id          uint64 // of the connection, unique in the process
	name, addr  string
	cores, free int // free is guarded by slotPool.mu
	conn        *grpc.ClientConn
	stream      rpc.Executor_ConnectClient
	cancel      context.CancelFunc

	sendMu  sync.Mutex
	defined map[uint64]bool // jobs described on the stream; guarded by sendMu

	mu      sync.Mutex
	pending map[uint64]chan *rpc.TaskStatus // tasks launched, waiting for their status
	lost    chan struct{}                   // closed once e is lost, after lostErr is set
	lostErr error

	heard   atomic.Int64                  // when the executor last sent anything, in Unix ns
	storage atomic.Pointer[rpc.Heartbeat] // the last heartbeat, if any

	whyOnce sync.Once
	why     error // what clusterBackendConfig.whyLost says, once e is lost
}

// connect dials the executor at addr and opens its task stream, uploading
// the driver's program first if the executor lacks it.
func (c *clusterBackend) connect(ctx context.Context, name, addr string, cores int) (*remoteExecutor, error) {
	conn, err := grpc.DialContext(ctx, addr, c.cfg.DialOptions...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: dial executor %s at %s: %w", name, addr, err)
	}
	sctx, cancel := context.WithCancel(c.ctx)
	e := &remoteExecutor{id: connections.Add(1), name: name, addr: addr, cores: cores, free: cores, conn: conn, cancel: cancel,
		defined: make(map[uint64]bool), pending: make(map[uint64]chan *rpc.TaskStatus), lost: make(chan struct{})}
	e.stream, err = c.handshake(ctx, sctx, conn)
	if status.Code(err) == codes.NotFound && c.cfg.program != nil {
		// The executor runs another program and lacks ours: upload it.
		if err = c.upload(ctx, conn); err == nil {
			e.stream, err = c.handshake(ctx, sctx, conn)
		}
	}
	if err != nil {
		return nil, e.abort(err)
	}
	return e, nil
}

// handshake opens a task stream on conn, which lasts as long as sctx, and
// waits at most as long as ctx for the executor's welcome.
func (c *clusterBackend) handshake(ctx, sctx context.Context, conn *grpc.ClientConn) (rpc.Executor_ConnectClient, error) {
	stream, err := rpc.NewExecutorClient(conn).Connect(sctx)
	if err != nil {
		return nil, err
	}
	hello := &rpc.Hello{AppId: c.cfg.AppID, Fingerprint: c.cfg.Fingerprint, HeartbeatMs: c.cfg.HeartbeatInterval.Milliseconds()}
	if c.cfg.program != nil {
		if hello.Binary, _, err = c.cfg.program(); err != nil {
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
func (c *clusterBackend) upload(ctx context.Context, conn *grpc.ClientConn) error {
	header, path, err := c.cfg.program()
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

// receive reads e's task statuses until its stream ends, which loses e.
func (c *clusterBackend) receive(e *remoteExecutor) {
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
			c.streamEnded(e, err)
			return
		}
		if hb := m.GetHeartbeat(); hb != nil {
			e.storage.Store(hb)
		}
		if ex := m.GetWorkerExited(); ex != nil {
			c.streamEnded(e, fmt.Errorf("%w: its worker process ended with %s", ErrExitCausedByTask, ex.Status))
			return
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

// watchHeartbeats loses the executors that stay silent longer than the
// heartbeat timeout, until the cluster closes.
func (c *clusterBackend) watchHeartbeats() {
	t := time.NewTicker(c.cfg.HeartbeatTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-t.C:
			c.loseSilent(now)
		}
	}
}

// loseSilent loses the executors not heard from for longer than the
// heartbeat timeout, as of now.
func (c *clusterBackend) loseSilent(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var silent []*remoteExecutor
	for _, e := range c.execs {
		if now.Sub(time.Unix(0, e.heard.Load())) > c.cfg.HeartbeatTimeout {
			silent = append(silent, e)
		}
	}
	for _, e := range silent {
		c.dropLocked(e, fmt.Errorf("no heartbeat for %v", c.cfg.HeartbeatTimeout))
	}
	if c.hooks.swept != nil {
		c.hooks.swept(now)
	}
}

// streamEnded loses e, whose task stream ended with err.
func (c *clusterBackend) streamEnded(e *remoteExecutor, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(e, err)
	if c.hooks.streamEnded != nil {
		c.hooks.streamEnded(e)
	}
}

// drop loses e, if it is still the executor of its name: a connection
// that was replaced must not take its successor down with it.
func (c *clusterBackend) drop(e *remoteExecutor, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(e, cause)
}

// dropLocked forgets e and fails its tasks, once. c.mu is held.
func (c *clusterBackend) dropLocked(e *remoteExecutor, cause error) {
	e.mu.Lock()
	already := e.lostErr != nil
	if !already {
		e.lostErr = fmt.Errorf("%w: %s at %s: %w", ErrExecutorLost, e.name, e.addr, cause)
	}
	e.mu.Unlock()
	if already {
		return
	}
	if c.execs[e.name] == e { // not replaced by a new connection
		delete(c.execs, e.name)
		// Out of the pool before it is seen lost: the tasks that waited
		// for it then find themselves first in the queue for any executor.
		c.slots.remove(e)
	}
	close(e.lost)
	e.cancel()
	e.conn.Close()
	// Synchronously, so that what it held is forgotten before any task
	// that ran there reports (the DAG then refuses their reports too).
	for _, f := range c.onLost {
		f(e.name, e.addr, e.id)
	}
	c.cfg.Logger.Warn("executor lost", "executor", e.name, "rpc", e.addr, "cause", cause)
}

// send launches a task, describing its job first if the stream has not.
func (e *remoteExecutor) send(job task.JobSpec, launch *rpc.LaunchTask) error {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	if !e.defined[job.Key()] {
		spec, ok := job.(replay.Spec)
		if !ok {
			return task.Permanent(fmt.Errorf("the job of key %d cannot be described to executors", job.Key()))
		}
		def := &rpc.DriverMessage{Body: &rpc.DriverMessage_Define{Define: spec.Definition()}}
		if err := e.stream.Send(def); err != nil {
			return err
		}
		e.defined[job.Key()] = true
	}
	return e.stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Launch{Launch: launch}})
}

// sendKill asks the executor to stop a task; a broken stream loses the
// executor, which stops its tasks anyway.
func (e *remoteExecutor) sendKill(taskID uint64) {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	_ = e.stream.Send(&rpc.DriverMessage{Body: &rpc.DriverMessage_Kill{Kill: &rpc.KillTask{TaskId: taskID}}})
}

// lostError is the error of the tasks that e's loss failed.
func (e *remoteExecutor) lostError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lostErr == nil {
		return fmt.Errorf("%w: %s at %s", ErrExecutorLost, e.name, e.addr)
	}
	return e.lostErr
}

// lostError is the error of a task that e's loss failed: e's own, and
// why its process exited when the driver can tell.
func (c *clusterBackend) lostError(e *remoteExecutor) error {
	err := e.lostError()
	if c.cfg.whyLost == nil || errors.Is(err, ErrExitCausedByTask) {
		return err
	}
	e.whyOnce.Do(func() { e.why = c.cfg.whyLost(e.name) })
	if e.why != nil {
		return fmt.Errorf("%w: %w", err, e.why)
	}
	return err
}

// abort closes the connection of an executor that did not join the
// cluster, and says why.
func (e *remoteExecutor) abort(err error) error {
	e.cancel()
	e.conn.Close()
	return fmt.Errorf("scheduler: executor %s at %s: %w", e.name, e.addr, err)
}
