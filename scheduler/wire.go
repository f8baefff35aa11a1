package scheduler

import (
	"errors"
	"fmt"

	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/wire"
	"github.com/ember-go/ember/task"
)

// decodeStatus turns an executor's report into the task's result or error.
func decodeStatus(t *task.Task, st *rpc.TaskStatus) (any, error) {
	if st.State == rpc.TaskStatus_FAILED {
		return nil, wire.TaskErrorOf(st.Error)
	}
	if t.Kind == task.MapTask {
		if st.MapOutput == nil {
			return nil, errors.New("the executor reported no map output")
		}
		return *wire.MapStatusOf(t.ShuffleID, st.MapOutput), nil
	}
	res, err := t.Job.DecodeResult(st.Result)
	if err != nil {
		// The same result decodes the same way however often it is sent.
		return nil, task.Permanent(fmt.Errorf("decode the task's result: %w", err))
	}
	return res, nil
}

// appendStoredBlocks appends to dst the blocks a task reported it cached.
func appendStoredBlocks(dst []task.StoredBlock, blocks []*rpc.StoredBlock) []task.StoredBlock {
	for _, b := range blocks {
		dst = append(dst, task.StoredBlock{ID: b.GetId(), Memory: b.GetMemory(), Disk: b.GetDisk()})
	}
	return dst
}
