package task

import (
	"sync/atomic"
)

// Metrics counts what a task attempt read and wrote, as the driver's
// status pages and metrics show it. Input is what the task read from
// sources (files, parallelized slices, ranges) and cached blocks; Output
// is what it produced: the records of a result task's partition, with the
// bytes it saved or sent back; shuffle reads and writes are counted apart.
type Metrics struct {
	InputRecords        int64
	InputBytes          int64
	OutputRecords       int64
	OutputBytes         int64
	ShuffleReadRecords  int64
	ShuffleReadBytes    int64
	ShuffleWriteRecords int64
	ShuffleWriteBytes   int64
	// MemoryBytesSpilled and DiskBytesSpilled are what the task's
	// operators spilled, as it was in memory (estimated) and as written
	// to disk (Spark's "Spill (Memory)" and "Spill (Disk)").
	MemoryBytesSpilled int64
	DiskBytesSpilled   int64
	// PeakExecutionMemory is the most execution memory the task held at
	// once.
	PeakExecutionMemory int64
}

// taskCounters are a running task's Metrics. Counters are atomic:
// shuffle fetches may run beside the task's own goroutine.
type taskCounters struct {
	inputRecords, inputBytes               atomic.Int64
	outputRecords, outputBytes             atomic.Int64
	shuffleReadRecords, shuffleReadBytes   atomic.Int64
	shuffleWriteRecords, shuffleWriteBytes atomic.Int64
	memorySpilled, diskSpilled             atomic.Int64
}

// AddInput counts records and bytes the task read from a source or a
// cached block.
func (tc *Context) AddInput(records, bytes int64) {
	tc.counters.inputRecords.Add(records)
	tc.counters.inputBytes.Add(bytes)
}

// AddOutput counts records the task produced and bytes it saved or
// returned.
func (tc *Context) AddOutput(records, bytes int64) {
	tc.counters.outputRecords.Add(records)
	tc.counters.outputBytes.Add(bytes)
}

// AddShuffleRead counts records and bytes of shuffle blocks the task read.
func (tc *Context) AddShuffleRead(records, bytes int64) {
	tc.counters.shuffleReadRecords.Add(records)
	tc.counters.shuffleReadBytes.Add(bytes)
}

// AddShuffleWrite counts records and bytes of map output the task wrote.
func (tc *Context) AddShuffleWrite(records, bytes int64) {
	tc.counters.shuffleWriteRecords.Add(records)
	tc.counters.shuffleWriteBytes.Add(bytes)
}

// AddSpill counts data the task's operators spilled: its estimated size
// in memory and its size on disk.
func (tc *Context) AddSpill(memoryBytes, diskBytes int64) {
	tc.counters.memorySpilled.Add(memoryBytes)
	tc.counters.diskSpilled.Add(diskBytes)
}

// Metrics returns what the task counted so far.
func (tc *Context) Metrics() Metrics {
	c := &tc.counters
	return Metrics{
		InputRecords: c.inputRecords.Load(), InputBytes: c.inputBytes.Load(),
		OutputRecords: c.outputRecords.Load(), OutputBytes: c.outputBytes.Load(),
		ShuffleReadRecords: c.shuffleReadRecords.Load(), ShuffleReadBytes: c.shuffleReadBytes.Load(),
		ShuffleWriteRecords: c.shuffleWriteRecords.Load(), ShuffleWriteBytes: c.shuffleWriteBytes.Load(),
		MemoryBytesSpilled: c.memorySpilled.Load(), DiskBytesSpilled: c.diskSpilled.Load(),
		PeakExecutionMemory: tc.memory.peak.Load(),
	}
}
