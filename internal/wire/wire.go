// Package wire converts the values that describe tasks and their outcomes
// (map statuses, task errors, metrics) to and from the messages of the
// driver–executor protocol (internal/rpc), in both directions in one
// place: the scheduler reads what the executors' side writes.
package wire

import (
	"errors"
	"fmt"

	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
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
	var ff *task.FetchFailedError
	var pe *task.PanicError
	switch {
	case errors.As(err, &ff):
		// The driver rebuilds the FetchFailedError around the cause.
		m.Kind, m.ShuffleId, m.MapId, m.Epoch = rpc.TaskError_FETCH_FAILED, int64(ff.ShuffleID), int32(ff.MapID), ff.Epoch
		if ff.Err != nil {
			m.Message = ff.Err.Error()
		}
	case errors.As(err, &pe):
		m.Kind, m.Message, m.PanicWhere, m.PanicStack = rpc.TaskError_PANIC, fmt.Sprint(pe.Value), pe.Where, pe.Stack
	case task.IsPermanent(err):
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
		return &task.FetchFailedError{ShuffleID: int(e.ShuffleId), MapID: int(e.MapId), Epoch: e.Epoch, Err: errors.New(msg)}
	case rpc.TaskError_PERMANENT:
		return task.Permanent(errors.New(msg))
	case rpc.TaskError_PANIC:
		return &task.PanicError{Value: msg, Where: e.PanicWhere, Stack: e.PanicStack}
	}
	return errors.New(msg)
}

// MetricsMessage is the wire form of task metrics.
func MetricsMessage(m task.Metrics) *rpc.TaskMetrics {
	return &rpc.TaskMetrics{
		InputRecords: m.InputRecords, InputBytes: m.InputBytes,
		OutputRecords: m.OutputRecords, OutputBytes: m.OutputBytes,
		ShuffleReadRecords: m.ShuffleReadRecords, ShuffleReadBytes: m.ShuffleReadBytes,
		ShuffleWriteRecords: m.ShuffleWriteRecords, ShuffleWriteBytes: m.ShuffleWriteBytes,
		MemoryBytesSpilled: m.MemoryBytesSpilled, DiskBytesSpilled: m.DiskBytesSpilled,
		PeakExecutionMemory: m.PeakExecutionMemory,
	}
}

// MetricsOf reads task metrics from the wire; nil reads as zero.
func MetricsOf(m *rpc.TaskMetrics) task.Metrics {
	return task.Metrics{
		InputRecords: m.GetInputRecords(), InputBytes: m.GetInputBytes(),
		OutputRecords: m.GetOutputRecords(), OutputBytes: m.GetOutputBytes(),
		ShuffleReadRecords: m.GetShuffleReadRecords(), ShuffleReadBytes: m.GetShuffleReadBytes(),
		ShuffleWriteRecords: m.GetShuffleWriteRecords(), ShuffleWriteBytes: m.GetShuffleWriteBytes(),
		MemoryBytesSpilled: m.GetMemoryBytesSpilled(), DiskBytesSpilled: m.GetDiskBytesSpilled(),
		PeakExecutionMemory: m.GetPeakExecutionMemory(),
	}
}
