package scheduler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode is a node of a hand-built graph.
type fakeNode struct {
	id    int
	parts int
	deps  []Dependency
}

func (n *fakeNode) ID() int                    { return n.id }
func (n *fakeNode) NumPartitions() int         { return n.parts }
func (n *fakeNode) Dependencies() []Dependency { return n.deps }
func (n *fakeNode) String() string             { return fmt.Sprintf("node %d", n.id) }

// mapCounter counts the map tasks run per shuffle and partition.
type mapCounter struct {
	mu   sync.Mutex
	runs map[[2]int]int
}

func (c *mapCounter) shuffleDep(id, numReduce int) *ShuffleDependency {
	return &ShuffleDependency{ID: id, NumReduce: numReduce,
		MapTask: func(tc *task.Context, p int) (shuffle.MapStatus, error) {
			c.mu.Lock()
			c.runs[[2]int{id, p}]++
			c.mu.Unlock()
			return shuffle.MapStatus{ShuffleID: id, MapID: p, Sizes: make([]int64, numReduce), Rows: make([]int64, numReduce)}, nil
		}}
}

func (c *mapCounter) count(id int) (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.runs {
		if k[0] == id {
			n += v
		}
	}
	return n
}

func newDAG(t *testing.T, slots, maxFailures int) *dagScheduler {
	t.Helper()
	exec, err := newLocalSlots(slots, &task.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return newDAGScheduler(exec, dagConfig{MaxFailures: maxFailures})
}

// diamond builds a graph whose final node reads, through narrow
// dependencies, two shuffles (1 and 2) of the same node src, which itself
// reads shuffle 3 of root:
//
//	root ─3─▶ src ─1─▶ a ─┐
//	              └─2─▶ b ─┴─▶ final
func diamond(c *mapCounter) (join *fakeNode) {
	root := &fakeNode{id: 1, parts: 3}
	src := &fakeNode{id: 2, parts: 4, deps: []Dependency{{Parent: root, Shuffle: c.shuffleDep(3, 4)}}}
	a := &fakeNode{id: 3, parts: 2, deps: []Dependency{{Parent: src, Shuffle: c.shuffleDep(1, 2)}}}
	b := &fakeNode{id: 4, parts: 2, deps: []Dependency{{Parent: src, Shuffle: c.shuffleDep(2, 2)}}}
	return &fakeNode{id: 5, parts: 2, deps: []Dependency{{Parent: a}, {Parent: b}}}
}

func TestStagesRunParentsFirstAndOnce(t *testing.T) {
	c := &mapCounter{runs: map[[2]int]int{}}
	d := newDAG(t, 3, 4)
	final := diamond(c)
	var got []int
	job := Job{Final: final,
		Run: func(tc *task.Context, p int) (any, error) {
			// Every shuffle the stage reads must be complete before it runs.
			for _, id := range []int{1, 2} {
				if _, err := tc.MapOutputs(id); err != nil {
					return nil, err
				}
			}
			return p * 10, nil
		},
		Result: func(i int, res any) error { got = append(got, res.(int)); return nil },
	}
	if err := d.RunJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 10}) {
		t.Fatalf("results %v, want [0 10]", got)
	}
	// Shuffle 3 feeds both 1 and 2, yet runs once per map partition.
	for id, want := range map[int]int{3: 3, 1: 4, 2: 4} {
		if n := c.count(id); n != want {
			t.Errorf("shuffle %d ran %d map tasks, want %d", id, n, want)
		}
	}
	// A second job reuses every shuffle output.
	got = nil
	if err := d.RunJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if n := c.count(3) + c.count(1) + c.count(2); n != 11 {
		t.Fatalf("second job ran %d map tasks in all, want none more than the first's 11", n)
	}
}

func TestStageShufflesStopAtShuffleBoundaries(t *testing.T) {
	c := &mapCounter{runs: map[[2]int]int{}}
	final := diamond(c)
	var ids []int
	for _, d := range stageShuffles(final) {
		ids = append(ids, d.Shuffle.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int{1, 2}) {
		t.Fatalf("the final stage reads shuffles %v, want [1 2] (not 3, which is further up)", ids)
	}
}

func TestLostMapOutputIsRecomputed(t *testing.T) {
	c := &mapCounter{runs: map[[2]int]int{}}
	d := newDAG(t, 2, 4)
	root := &fakeNode{id: 1, parts: 3}
	dep := c.shuffleDep(7, 2)
	final := &fakeNode{id: 2, parts: 2, deps: []Dependency{{Parent: root, Shuffle: dep}}}
	var lostOnce atomic.Bool
	err := d.RunJob(context.Background(), Job{Final: final,
		Run: func(tc *task.Context, p int) (any, error) {
			if p == 1 && lostOnce.CompareAndSwap(false, true) {
				return nil, &task.FetchFailedError{ShuffleID: 7, MapID: 2, Err: errors.New("executor gone")}
			}
			return nil, nil
		},
		Result: func(int, any) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs[[2]int{7, 2}] != 2 || c.runs[[2]int{7, 0}] != 1 || c.runs[[2]int{7, 1}] != 1 {
		t.Fatalf("map runs %v: want map 2 run twice (recomputed), maps 0 and 1 once", c.runs)
	}
}

func TestTaskRetriesAndPermanentErrors(t *testing.T) {
	d := newDAG(t, 2, 3)
	node := &fakeNode{id: 1, parts: 4}
	var attempts atomic.Int64
	err := d.RunJob(context.Background(), Job{Final: node,
		Run: func(tc *task.Context, p int) (any, error) {
			attempts.Add(1)
			if tc.Attempt < 3 {
				return nil, fmt.Errorf("attempt %d of partition %d fails", tc.Attempt, p)
			}
			return p, nil
		},
		Result: func(int, any) error { return nil },
	})
	if err != nil || attempts.Load() != 12 {
		t.Fatalf("job: %v after %d attempts; want success after 12 (3 per task)", err, attempts.Load())
	}

	attempts.Store(0)
	err = d.RunJob(context.Background(), Job{Final: node,
		Run: func(tc *task.Context, p int) (any, error) {
			attempts.Add(1)
			if p == 2 {
				panic("always")
			}
			return p, nil
		},
		Result: func(int, any) error { return nil },
	})
	var te *TaskError
	var pe *task.PanicError
	if !errors.As(err, &te) || len(te.Attempts) != 3 || te.Partition != 2 || !errors.As(err, &pe) {
		t.Fatalf("job error %v: want a TaskError for partition 2 after 3 attempts wrapping a PanicError", err)
	}

	attempts.Store(0)
	err = d.RunJob(context.Background(), Job{Final: &fakeNode{id: 2, parts: 1},
		Run: func(tc *task.Context, p int) (any, error) {
			attempts.Add(1)
			return nil, task.Permanent(errors.New("bad input"))
		},
		Result: func(int, any) error { return nil },
	})
	if err == nil || attempts.Load() != 1 || !task.IsPermanent(err) {
		t.Fatalf("permanent error: %v after %d attempts, want failure after 1", err, attempts.Load())
	}
}

func TestCancelStopsTasks(t *testing.T) {
	d := newDAG(t, 2, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Add(2)
	errc := make(chan error, 1)
	go func() {
		errc <- d.RunJob(ctx, Job{Final: &fakeNode{id: 1, parts: 8},
			Run: func(tc *task.Context, p int) (any, error) {
				running.Done()
				<-tc.Context().Done()
				return nil, tc.Context().Err()
			},
			Result: func(int, any) error { return nil },
		})
	}()
	running.Wait() // both slots busy
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled job: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("job did not stop after cancel")
	}
}

func TestPrepareRunsOnceBeforeMapTasks(t *testing.T) {
	d := newDAG(t, 2, 4)
	var prepared atomic.Int64
	var mapsBeforePrepare atomic.Int64
	dep := &ShuffleDependency{ID: 1, NumReduce: 1,
		Prepare: func(ctx context.Context, _ task.JobSpec) error { prepared.Add(1); return nil },
		MapTask: func(tc *task.Context, p int) (shuffle.MapStatus, error) {
			if prepared.Load() == 0 {
				mapsBeforePrepare.Add(1)
			}
			return shuffle.MapStatus{ShuffleID: 1, MapID: p, Sizes: []int64{0}, Rows: []int64{0}}, nil
		}}
	final := &fakeNode{id: 2, parts: 1, deps: []Dependency{{Parent: &fakeNode{id: 1, parts: 3}, Shuffle: dep}}}
	job := Job{Final: final, Run: func(*task.Context, int) (any, error) { return nil, nil }, Result: func(int, any) error { return nil }}
	for range 2 {
		if err := d.RunJob(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	if prepared.Load() != 1 || mapsBeforePrepare.Load() != 0 {
		t.Fatalf("Prepare ran %d times, %d map tasks before it; want 1 and 0", prepared.Load(), mapsBeforePrepare.Load())
	}
}

// Job A and job B share a shuffle; A runs its map stage and B waits on it.
// A is cancelled with a cause of its own: B, not cancelled, must compute
// the shuffle itself rather than fail with A's reason.
func TestCancelledJobDoesNotFailJobsSharingItsStage(t *testing.T) {
	d := newDAG(t, 2, 4)
	started := make(chan struct{}, 16)
	var runs atomic.Int64
	dep := &ShuffleDependency{ID: 1, NumReduce: 1,
		MapTask: func(tc *task.Context, p int) (shuffle.MapStatus, error) {
			if runs.Add(1) == 1 { // A's attempt: runs until A is cancelled
				started <- struct{}{}
				<-tc.Context().Done()
				return shuffle.MapStatus{}, tc.Context().Err()
			}
			return shuffle.MapStatus{ShuffleID: 1, MapID: p, Sizes: []int64{0}, Rows: []int64{0}}, nil
		}}
	final := &fakeNode{id: 2, parts: 1, deps: []Dependency{{Parent: &fakeNode{id: 1, parts: 1}, Shuffle: dep}}}
	job := Job{Final: final, Run: func(*task.Context, int) (any, error) { return nil, nil }, Result: func(int, any) error { return nil }}

	waiting := make(chan int, 16)
	d.waitingOnStage = func(shuffleID int) { waiting <- shuffleID }

	ctxA, cancelA := context.WithCancelCause(context.Background())
	errA := make(chan error, 1)
	go func() { errA <- d.RunJob(ctxA, job) }()
	<-started
	errB := make(chan error, 1)
	go func() { errB <- d.RunJob(context.Background(), job) }()
	select {
	case <-waiting: // B now waits on A's map stage
	case <-time.After(10 * time.Second):
		t.Fatal("job B did not wait on job A's map stage within 10 s")
	}
	cancelA(errors.New("job A's own reason"))
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("job A: %v, want context.Canceled", err)
	}
	if err := <-errB; err != nil {
		t.Fatalf("job B, never cancelled, failed: %v", err)
	}
}

// A task whose goroutine exits (runtime.Goexit) must fail its job, not
// leave its partition out of a successful one.
func TestTaskThatExitsFailsTheJob(t *testing.T) {
	d := newDAG(t, 2, 4)
	var results atomic.Int64
	err := d.RunJob(context.Background(), Job{Final: &fakeNode{id: 1, parts: 4},
		Run: func(tc *task.Context, p int) (any, error) {
			if p == 2 {
				runtime.Goexit()
			}
			return p, nil
		},
		Result: func(int, any) error { results.Add(1); return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "exited without a result") {
		t.Fatalf("job with an exiting task: %v (results %d), want an error", err, results.Load())
	}
}

func TestUnregisterIgnoresStaleEpochs(t *testing.T) {
	tr := newMapOutputTracker()
	status := func() shuffle.MapStatus {
		return shuffle.MapStatus{ShuffleID: 1, MapID: 0, Sizes: []int64{1}, Rows: []int64{1}}
	}
	tr.Register(1, 2, status())
	tr.Register(1, 2, shuffle.MapStatus{ShuffleID: 1, MapID: 1})
	outs, err := tr.Statuses(1)
	if err != nil {
		t.Fatal(err)
	}
	first := outs[0].Epoch
	tr.Unregister(1, 0, first) // the output was lost: recompute it
	if m := tr.Missing(1, 2); !slices.Equal(m, []int{0}) {
		t.Fatalf("missing %v, want [0]", m)
	}
	tr.Register(1, 2, status()) // recomputed
	tr.Unregister(1, 0, first)  // a late report about the lost output
	if m := tr.Missing(1, 2); len(m) != 0 {
		t.Fatalf("a stale report unregistered the recomputed output: missing %v", m)
	}
	outs, _ = tr.Statuses(1)
	tr.Unregister(1, 0, outs[0].Epoch)
	if m := tr.Missing(1, 2); !slices.Equal(m, []int{0}) {
		t.Fatalf("a current report did not unregister: missing %v", m)
	}
}

func TestLostExecutorsDoNotCountAsTaskFailures(t *testing.T) {
	d := newDAG(t, 2, 2)
	node := &fakeNode{id: 1, parts: 1}
	var attempts atomic.Int64
	lost := fmt.Errorf("%w: executor-1 at 127.0.0.1:1: killed", ErrExecutorLost)
	err := d.RunJob(context.Background(), Job{Final: node,
		Run: func(tc *task.Context, p int) (any, error) {
			if attempts.Add(1) <= 3 {
				return nil, lost
			}
			return p, nil
		},
		Result: func(int, any) error { return nil },
	})
	if err != nil || attempts.Load() != 4 {
		t.Fatalf("three lost executors then success: %v after %d attempts, with task.maxFailures 2", err, attempts.Load())
	}

	// Attempts stay bounded: four times task.maxFailures.
	attempts.Store(0)
	err = d.RunJob(context.Background(), Job{Final: node,
		Run: func(tc *task.Context, p int) (any, error) {
			attempts.Add(1)
			return nil, lost
		},
		Result: func(int, any) error { return nil },
	})
	var te *TaskError
	if !errors.As(err, &te) || attempts.Load() != 8 || len(te.Attempts) != 8 || !errors.Is(err, ErrExecutorLost) {
		t.Fatalf("executors lost forever: %v after %d attempts, want a TaskError after 8", err, attempts.Load())
	}

	// An executor that exited by itself (the task crashed it) counts, as
	// Spark's exitCausedByApp.
	attempts.Store(0)
	crashed := fmt.Errorf("%w: %w: exit status 2", lost, ErrExitCausedByTask)
	err = d.RunJob(context.Background(), Job{Final: node,
		Run: func(tc *task.Context, p int) (any, error) {
			attempts.Add(1)
			return nil, crashed
		},
		Result: func(int, any) error { return nil },
	})
	if !errors.As(err, &te) || attempts.Load() != 2 || !errors.Is(err, ErrExitCausedByTask) {
		t.Fatalf("executors crashed by the task: %v after %d attempts, want a TaskError after 2 (task.maxFailures)", err, attempts.Load())
	}
}

func TestStageAttemptsAreBounded(t *testing.T) {
	c := &mapCounter{runs: map[[2]int]int{}}
	d := newDAG(t, 2, 4)
	root := &fakeNode{id: 1, parts: 2}
	dep := c.shuffleDep(9, 1)
	final := &fakeNode{id: 2, parts: 1, deps: []Dependency{{Parent: root, Shuffle: dep}}}
	err := d.RunJob(context.Background(), Job{Final: final,
		Run: func(tc *task.Context, p int) (any, error) {
			return nil, &task.FetchFailedError{ShuffleID: 9, MapID: 0, Err: errors.New("executor gone again")}
		},
		Result: func(int, any) error { return nil },
	})
	var se *StageError
	if !errors.As(err, &se) || len(se.Losses) != DefaultMaxStageAttempts || !strings.Contains(err.Error(), "node 2") ||
		!strings.Contains(err.Error(), "executor gone again") {
		t.Fatalf("a stage that always loses its input: %v", err)
	}
}

// On one slot, a stage's tasks start in partition order, as under Spark's
// FIFO scheduling (and, on more slots, they ask for slots in that order).
func TestTasksStartInPartitionOrderOnOneSlot(t *testing.T) {
	d := newDAG(t, 1, 4)
	final := &fakeNode{id: 1, parts: 12}
	var mu sync.Mutex
	var order []int
	err := d.RunJob(context.Background(), Job{Final: final,
		Run: func(tc *task.Context, p int) (any, error) {
			mu.Lock()
			order = append(order, p)
			mu.Unlock()
			return p, nil
		},
		Result: func(int, any) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	if !slices.Equal(order, want) {
		t.Errorf("tasks ran in the order %v on one slot, want %v", order, want)
	}
}
