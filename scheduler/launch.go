package scheduler

import (
	"context"
	"time"

	"github.com/ember-go/ember/internal/replay"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/wire"
	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
)

// runOn launches t on e, where it holds a slot, and waits for its status.
// It fails at once if e is lost; if ctx ends, it kills the task and
// returns ctx's error once the task stopped or killWait passed.
func (c *clusterBackend) runOn(ctx context.Context, e *remoteExecutor, t *task.Task) (any, error) {
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
		return finished(t, st)
	case <-e.lost:
		return nil, c.lostError(e)
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
func (c *clusterBackend) launchMessage(t *task.Task, e *remoteExecutor) (*rpc.LaunchTask, error) {
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
		TaskId: c.nextTask.Add(1), JobKey: t.Job.Key(), Kind: rpc.LaunchTask_Kind(t.Kind),
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
			outs.Outputs = append(outs.Outputs, wire.MapOutputMessage(st))
		}
		m.Inputs = append(m.Inputs, outs)
	}
	return m, nil
}

// finished reads a task's status into t and returns its result or error.
func finished(t *task.Task, st *rpc.TaskStatus) (any, error) {
	t.Stored = appendStoredBlocks(t.Stored[:0], st.Stored)
	t.Metrics = wire.MetricsOf(st.Metrics)
	res, err := decodeStatus(t, st)
	// A finished task's additions count, once: a failed attempt's do not,
	// and a partition's result is delivered once.
	if spec, ok := t.Job.(replay.Spec); ok && err == nil && len(st.Accumulators) > 0 {
		spec.Accumulated(st.Accumulators)
	}
	return res, err
}
