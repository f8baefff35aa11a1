package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ember-go/ember/task"
)

func TestRunLimitsConcurrencyToSlots(t *testing.T) {
	l, err := newLocalSlots(3, &task.Env{})
	if err != nil {
		t.Fatal(err)
	}
	// The tasks that take the slots hold them until the test lets them go:
	// three at once, and a fourth if Run let one in past the slots.
	release := make(chan struct{})
	letGo := sync.OnceFunc(func() { close(release) })
	defer letGo()
	var running, peak, calling atomic.Int64
	var wg sync.WaitGroup
	for p := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			calling.Add(1)
			_, err := l.Run(context.Background(), &task.Task{Partition: p, Run: func(tc *task.Context) (any, error) {
				n := running.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				<-release
				running.Add(-1)
				return nil, nil
			}})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	waitUntil(t, "all 20 tasks submitted and 3 running", func() bool { return running.Load() >= 3 && calling.Load() == 20 })
	letGo()
	wg.Wait()
	if p := peak.Load(); p < 2 || p > 3 {
		t.Fatalf("peak concurrency %d, want up to 3 slots used (and more than 1)", p)
	}
}

func TestRunTurnsPanicIntoError(t *testing.T) {
	l, _ := newLocalSlots(1, &task.Env{})
	_, err := l.Run(context.Background(), &task.Task{Run: func(*task.Context) (any, error) {
		var m map[string]int
		m["x"] = 1 // a runtime error panic
		return nil, nil
	}})
	var pe *task.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *task.PanicError", err)
	}
	if !strings.Contains(err.Error(), "assignment to entry in nil map") || !strings.Contains(pe.Stack, "local_test.go") {
		t.Fatalf("panic error lacks the cause or the stack:\n%v", err)
	}
	var re interface{ RuntimeError() }
	if !errors.As(err, &re) {
		t.Fatal("the runtime error is not reachable with errors.As")
	}
}

func TestRunWaitsForSlotUntilContextEnds(t *testing.T) {
	l, _ := newLocalSlots(1, &task.Env{})
	release, holding := make(chan struct{}), make(chan struct{})
	go l.Run(context.Background(), &task.Task{Run: func(*task.Context) (any, error) { close(holding); <-release; return nil, nil }})
	<-holding // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	_, err := l.Run(ctx, &task.Task{Run: func(*task.Context) (any, error) { ran = true; return nil, nil }})
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("Run with no free slot: err %v, ran %v; want DeadlineExceeded without running", err, ran)
	}
}

func TestNewLocalRejectsBadArguments(t *testing.T) {
	if _, err := newLocalSlots(0, &task.Env{}); err == nil {
		t.Fatal("NewLocal(0) succeeded")
	}
	if _, err := newLocalSlots(1, nil); err == nil {
		t.Fatal("NewLocal with a nil Env succeeded")
	}
}
