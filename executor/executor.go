// Package executor runs tasks. In local mode an executor is a pool of
// goroutine slots inside the driver process; every task runs in a slot with
// the executor's block manager and shuffle files at hand, and a panic in a
// task becomes an error instead of ending the process.
package executor

import (
	"context"
	"iter"
	"slices"
	"sync"

	"errors"
	"fmt"
	"github.com/apache/arrow/go/v15/arrow"
	"runtime/debug"
	"time"

	"github.com/ember-go/ember/internal/rpc"
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
	// (see TaskContext.CachedAt).
	RemoteCached func(ctx context.Context, location, id string) iter.Seq2[arrow.Record, error]
}

// Task is one unit of work: the computation of one partition of a stage.
type Task struct {
	StageID   int
	Partition int
	Attempt   int
	// Run computes the task. Its result is handed back to the scheduler.
	Run func(tc *TaskContext) (any, error)
	// MapOutputs tells a reduce task where the map outputs of a shuffle are.
	MapOutputs func(shuffleID int) ([]*shuffle.MapStatus, error)

	// An executor in another process cannot call Run; it rebuilds the
	// job's graph from Job and runs the same computation.

	// Job describes the task's job to other processes; nil when the task
	// can run only in this one.
	Job  *JobSpec
	Kind TaskKind
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
	// its slot and what it counted (see TaskMetrics).
	Launched time.Time
	Metrics  TaskMetrics
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
func (tc *TaskContext) NoteStored(b StoredBlock) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.stored = append(tc.stored, b)
}

// StoredBlocks returns what NoteStored recorded.
func (tc *TaskContext) StoredBlocks() []StoredBlock {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return slices.Clone(tc.stored)
}

// CachedAt returns the RPC address of another executor that holds the
// cached block id, or "".
func (tc *TaskContext) CachedAt(id string) string { return tc.task.Locations[id] }

// TaskKind says what a task computes.
type TaskKind int

const (
	// ResultTask computes a partition of a job's final RDD.
	ResultTask TaskKind = iota
	// MapTask writes a partition of a shuffle's parent as map output.
	MapTask
	// SampleTask samples the keys of a partition of a shuffle's parent,
	// for a range partitioner.
	SampleTask
)

// JobSpec describes a job to executors in other processes.
type JobSpec struct {
	// Key identifies the job within its application.
	Key uint64
	// Define returns what an executor needs to rebuild the job's graph.
	Define func() *rpc.DefineJob
	// Decode turns the encoded result of a result task into what Run
	// would have returned.
	Decode func(encoded []byte) (any, error)
	// Accumulated, if set, receives what a finished task added to the
	// pipeline's accumulators.
	Accumulated func(added []*rpc.AccumulatorValue)
}

// Returning returns a copy of the spec whose results decode with decode,
// for a job run on behalf of this one (a partitioner's sample). It is nil
// when s is.
func (s *JobSpec) Returning(decode func([]byte) (any, error)) *JobSpec {
	if s == nil {
		return nil
	}
	c := *s
	c.Decode = decode
	return &c
}

// TaskContext is what a running task knows about itself and its executor.
type TaskContext struct {
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

	mu     sync.Mutex
	stored []StoredBlock
}

// Context returns the task's context, cancelled when the job is cancelled.
func (tc *TaskContext) Context() context.Context { return tc.ctx }

// MapOutputs returns the status of every map task of the shuffle, indexed by
// map partition.
func (tc *TaskContext) MapOutputs(shuffleID int) ([]*shuffle.MapStatus, error) {
	if tc.task.MapOutputs == nil {
		return nil, fmt.Errorf("executor: no map output tracker for shuffle %d", shuffleID)
	}
	return tc.task.MapOutputs(shuffleID)
}

// Local is an executor made of goroutine slots in the current process.
type Local struct {
	slots chan struct{}
	env   *Env
}

// NewLocal returns an executor that runs at most slots tasks at once.
func NewLocal(slots int, env *Env) (*Local, error) {
	if slots < 1 {
		return nil, fmt.Errorf("executor: %d slots: need at least one", slots)
	}
	if env == nil {
		return nil, errors.New("executor: nil environment")
	}
	return &Local{slots: make(chan struct{}, slots), env: env}, nil
}

// Slots returns how many tasks may run at once.
func (l *Local) Slots() int { return cap(l.slots) }

// Env returns the executor's environment.
func (l *Local) Env() *Env { return l.env }

// Run waits for a free slot, then runs the task in the calling goroutine.
// It returns ctx.Err() if the context ends before a slot frees. A panic in
// the task is returned as a *PanicError.
func (l *Local) Run(ctx context.Context, t *Task) (result any, err error) {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.slots }()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.Launched = time.Now()
	if t.Started != nil {
		t.Started()
	}
	tc := &TaskContext{ctx: ctx, StageID: t.StageID, Partition: t.Partition, Attempt: t.Attempt, Env: l.env, Executor: "driver", task: t}
	defer func() { t.Metrics = tc.Metrics() }()
	return runRecovered(tc, t.Run)
}

func runRecovered(tc *TaskContext, run func(*TaskContext) (any, error)) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = NewPanicError(v)
		}
	}()
	return run(tc)
}

// PanicError is a panic caught while running a task.
type PanicError struct {
	Value any    // what was passed to panic
	Where string // the user code that panicked, e.g. an RDD and its creation site
	Stack string // the goroutine's stack where the panic happened
}

// NewPanicError wraps a recovered value with the current stack. It must be
// called from the deferred function that recovered, so that the stack still
// shows where the panic began. A value that already is a *PanicError is
// returned as it is, so that the innermost recovery keeps its stack.
func NewPanicError(v any) *PanicError {
	if pe, ok := v.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: v, Stack: string(debug.Stack())}
}

func (e *PanicError) Error() string {
	if e.Where != "" {
		return fmt.Sprintf("panic in %s: %v\n\n%s", e.Where, e.Value, e.Stack)
	}
	return fmt.Sprintf("panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
