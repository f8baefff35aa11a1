package scheduler

import (
	"errors"
	"fmt"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/shuffle"
)

// MapOutputMessage is the wire form of a map status.
func MapOutputMessage(st *shuffle.MapStatus) *rpc.MapOutput {
	return &rpc.MapOutput{MapId: int32(st.MapID), Location: st.Location, Epoch: st.Epoch, Sizes: st.Sizes, Rows: st.Rows}
}

// MapStatusOf reads a map status from the wire.
func MapStatusOf(shuffleID int, m *rpc.MapOutput) *shuffle.MapStatus {
	return &shuffle.MapStatus{ShuffleID: shuffleID, MapID: int(m.MapId), Location: m.Location, Epoch: m.Epoch, Sizes: m.Sizes, Rows: m.Rows}
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

// appendStoredBlocks appends to dst the blocks a task reported it cached.
func appendStoredBlocks(dst []executor.StoredBlock, blocks []*rpc.StoredBlock) []executor.StoredBlock {
	for _, b := range blocks {
		dst = append(dst, executor.StoredBlock{ID: b.GetId(), Memory: b.GetMemory(), Disk: b.GetDisk()})
	}
	return dst
}
