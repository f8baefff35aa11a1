// Package task describes a task, the computation of one partition of a
// stage, as the scheduler that makes tasks and the executors that run them
// both see it: the task itself, the context it runs in (its executor's
// block manager and shuffle files, its metrics), and the errors by which
// it fails (panics, lost map output, failures that retrying cannot mend).
package task

import (
	"context"
	"iter"
	"slices"
	"sync"

	"fmt"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
)

// Env is what an executor offers the tasks it runs: the block manager that
// holds cached partitions and the shuffle files of map outputs.
type Env struct {
	Blocks  *storage.Manager
	Shuffle *shuffle.Manager
	// Fetcher reads shuffle blocks; in local mode it is Shuffle itself.
	Fetcher shuffle.Fetcher
	// RemoteCached, if set, reads a cached block of another executor
	// (see Context.CachedAt).
	RemoteCached func(ctx context.Context, location, id string) iter.Seq2[arrow.Record, error]
	// Memory is the process's memory budget, which tasks draw execution
	// memory from (Context.Reserve); nil grants every request.
	Memory *storage.MemoryManager
	// SpillDir is where tasks make their spill directories
	// (Context.SpillDir); "" means the system's temporary directory.
	SpillDir string
}

// Task is one unit of work: the computation of one partition of a stage.
type Task struct {
	StageID   int
	Partition int
	Attempt   int
	// Run computes the task. Its result is handed back to the scheduler.
	Run func(tc *Context) (any, error)
	// MapOutputs tells a reduce task where the map outputs of a shuffle are.
	MapOutputs func(shuffleID int) ([]*shuffle.MapStatus, error)

	// An executor in another process cannot call Run; it rebuilds the
	// job's graph from Job and runs the same computation.

	// Job describes the task's job to other processes; nil when the task
	// can run only in this one.
	Job  JobSpec
	Kind Kind
	// ShuffleID is the shuffle a map or sample task is for.
	ShuffleID int
	// Reads lists the shuffles whose map outputs the task reads.
	Reads []int
	// Partitioner is the prepared state of the partitioner of the shuffle
	// a map task writes, if it has one (see scheduler.ShuffleDependency).
	Partitioner []byte
	// RanOn is set by a backend of several executors to the executor that
	// ran the task, and RanOnID to its connection, which tells a restarted
	// executor of the same name apart.
	RanOn   string
	RanOnID uint64
	// Cached lists where the partitions of persisted RDDs that the task
	// reads were computed, by executor name, nearest first; a backend of
	// several executors waits a little for a slot on the first, and turns
	// them into Locations for the task.
	Cached []CachedBlock
	// Locations, on an executor, gives the RPC addresses of other
	// executors that hold cached blocks the task reads, by block id.
	Locations map[string]string
	// Stored is set by a backend of several executors to the blocks the
	// task cached on its executor.
	Stored []StoredBlock
	// Started, if set, is called by the backend when the task has a slot
	// and begins to run.
	Started func()
	// Launched and Metrics are set by the backend: when the attempt got
	// its slot and what it counted (see Metrics).
	Launched time.Time
	Metrics  Metrics
}

// CachedBlock is a partition of a persisted RDD and the executor that
// computed it.
type CachedBlock struct {
	RDD, Partition int
	Executor       string
}

// StoredBlock is a block a task cached on its executor, and the bytes it
// takes there in memory and on disk.
type StoredBlock struct {
	ID           string
	Memory, Disk int64
}

// NoteStored records that the task cached a block on its executor.
func (tc *Context) NoteStored(b StoredBlock) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.stored = append(tc.stored, b)
}

// StoredBlocks returns what NoteStored recorded.
func (tc *Context) StoredBlocks() []StoredBlock {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return slices.Clone(tc.stored)
}

// CachedAt returns the RPC address of another executor that holds the
// cached block id, or "".
func (tc *Context) CachedAt(id string) string { return tc.task.Locations[id] }

// Kind says what a task computes.
type Kind int

const (
	// ResultTask computes a partition of a job's final RDD.
	ResultTask Kind = iota
	// MapTask writes a partition of a shuffle's parent as map output.
	MapTask
	// SampleTask samples the keys of a partition of a shuffle's parent,
	// for a range partitioner.
	SampleTask
)

// A JobSpec describes a task's job to executors in other processes, which
// rebuild the job's graph from it; package rdd makes them. The wire form
// of the description is the implementation's own.
type JobSpec interface {
	// Key identifies the job within its application.
	Key() uint64
	// DecodeResult turns the encoded result of a result task into what
	// the task's Run would have returned.
	DecodeResult(encoded []byte) (any, error)
}

// Context is what a running task knows about itself and its executor.
type Context struct {
	ctx       context.Context
	StageID   int
	Partition int
	Attempt   int
	Env       *Env
	// Executor names the executor running the task: its cluster member
	// name, or "driver" in local mode.
	Executor string
	// App names the application (the driver) the task belongs to; "" in
	// local mode.
	App  string
	task *Task

	counters taskCounters
	memory   taskMemory

	mu     sync.Mutex
	stored []StoredBlock
}

// Context returns the task's context, cancelled when the job is cancelled.
func (tc *Context) Context() context.Context { return tc.ctx }

// MapOutputs returns the status of every map task of the shuffle, indexed by
// map partition.
func (tc *Context) MapOutputs(shuffleID int) ([]*shuffle.MapStatus, error) {
	if tc.task.MapOutputs == nil {
		return nil, fmt.Errorf("executor: no map output tracker for shuffle %d", shuffleID)
	}
	return tc.task.MapOutputs(shuffleID)
}

// NewContext returns the context of an attempt of t that runs in an
// executor named executor (of application app, "" in local mode) with env
// at hand, until ctx ends.
func NewContext(ctx context.Context, t *Task, env *Env, executor, app string) *Context {
	return &Context{ctx: ctx, StageID: t.StageID, Partition: t.Partition, Attempt: t.Attempt, Env: env, Executor: executor, App: app, task: t}
}

// Task returns the task being run.
func (tc *Context) Task() *Task { return tc.task }
