package executor

import (
	"sync/atomic"

	"github.com/ember-go/ember/internal/rpc"
)

// TaskMetrics counts what a task attempt read and wrote, as the driver's
// status pages and metrics show it. Input is what the task read from
// sources (files, parallelized slices, ranges) and cached blocks; Output
// is what it produced: the records of a result task's partition, with the
// bytes it saved or sent back; shuffle reads and writes are counted apart.
type TaskMetrics struct {
	InputRecords        int64 `json:"inputRecords"`
	InputBytes          int64 `json:"inputBytes"`
	OutputRecords       int64 `json:"outputRecords"`
	OutputBytes         int64 `json:"outputBytes"`
	ShuffleReadRecords  int64 `json:"shuffleReadRecords"`
	ShuffleReadBytes    int64 `json:"shuffleReadBytes"`
	ShuffleWriteRecords int64 `json:"shuffleWriteRecords"`
	ShuffleWriteBytes   int64 `json:"shuffleWriteBytes"`
}

// Add adds o to m.
func (m *TaskMetrics) Add(o TaskMetrics) {
	m.InputRecords += o.InputRecords
	m.InputBytes += o.InputBytes
	m.OutputRecords += o.OutputRecords
	m.OutputBytes += o.OutputBytes
	m.ShuffleReadRecords += o.ShuffleReadRecords
	m.ShuffleReadBytes += o.ShuffleReadBytes
	m.ShuffleWriteRecords += o.ShuffleWriteRecords
	m.ShuffleWriteBytes += o.ShuffleWriteBytes
}

// Message is the wire form of m.
func (m TaskMetrics) Message() *rpc.TaskMetrics {
	return &rpc.TaskMetrics{
		InputRecords: m.InputRecords, InputBytes: m.InputBytes,
		OutputRecords: m.OutputRecords, OutputBytes: m.OutputBytes,
		ShuffleReadRecords: m.ShuffleReadRecords, ShuffleReadBytes: m.ShuffleReadBytes,
		ShuffleWriteRecords: m.ShuffleWriteRecords, ShuffleWriteBytes: m.ShuffleWriteBytes,
	}
}

// TaskMetricsOf reads task metrics from the wire; nil reads as zero.
func TaskMetricsOf(m *rpc.TaskMetrics) TaskMetrics {
	return TaskMetrics{
		InputRecords: m.GetInputRecords(), InputBytes: m.GetInputBytes(),
		OutputRecords: m.GetOutputRecords(), OutputBytes: m.GetOutputBytes(),
		ShuffleReadRecords: m.GetShuffleReadRecords(), ShuffleReadBytes: m.GetShuffleReadBytes(),
		ShuffleWriteRecords: m.GetShuffleWriteRecords(), ShuffleWriteBytes: m.GetShuffleWriteBytes(),
	}
}

// taskCounters are a running task's TaskMetrics. Counters are atomic:
// shuffle fetches may run beside the task's own goroutine.
type taskCounters struct {
	inputRecords, inputBytes               atomic.Int64
	outputRecords, outputBytes             atomic.Int64
	shuffleReadRecords, shuffleReadBytes   atomic.Int64
	shuffleWriteRecords, shuffleWriteBytes atomic.Int64
}

// AddInput counts records and bytes the task read from a source or a
// cached block.
func (tc *TaskContext) AddInput(records, bytes int64) {
	tc.counters.inputRecords.Add(records)
	tc.counters.inputBytes.Add(bytes)
}

// AddOutput counts records the task produced and bytes it saved or
// returned.
func (tc *TaskContext) AddOutput(records, bytes int64) {
	tc.counters.outputRecords.Add(records)
	tc.counters.outputBytes.Add(bytes)
}

// AddShuffleRead counts records and bytes of shuffle blocks the task read.
func (tc *TaskContext) AddShuffleRead(records, bytes int64) {
	tc.counters.shuffleReadRecords.Add(records)
	tc.counters.shuffleReadBytes.Add(bytes)
}

// AddShuffleWrite counts records and bytes of map output the task wrote.
func (tc *TaskContext) AddShuffleWrite(records, bytes int64) {
	tc.counters.shuffleWriteRecords.Add(records)
	tc.counters.shuffleWriteBytes.Add(bytes)
}

// Metrics returns what the task counted so far.
func (tc *TaskContext) Metrics() TaskMetrics {
	c := &tc.counters
	return TaskMetrics{
		InputRecords: c.inputRecords.Load(), InputBytes: c.inputBytes.Load(),
		OutputRecords: c.outputRecords.Load(), OutputBytes: c.outputBytes.Load(),
		ShuffleReadRecords: c.shuffleReadRecords.Load(), ShuffleReadBytes: c.shuffleReadBytes.Load(),
		ShuffleWriteRecords: c.shuffleWriteRecords.Load(), ShuffleWriteBytes: c.shuffleWriteBytes.Load(),
	}
}
