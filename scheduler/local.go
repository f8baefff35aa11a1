package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ember-go/ember/task"
)

// localSlots is a Backend of goroutine slots in the current process: the
// executor of a local master.
type localSlots struct {
	slots chan struct{}
	env   *task.Env
}

// newLocalSlots returns a backend that runs at most slots tasks at once, with
// env at hand.
func newLocalSlots(slots int, env *task.Env) (*localSlots, error) {
	if slots < 1 {
		return nil, fmt.Errorf("scheduler: %d slots: need at least one", slots)
	}
	if env == nil {
		return nil, errors.New("scheduler: nil task environment")
	}
	return &localSlots{slots: make(chan struct{}, slots), env: env}, nil
}

// Slots returns how many tasks may run at once.
func (l *localSlots) Slots() int { return cap(l.slots) }

// Run waits for a free slot, then runs the task in the calling goroutine.
// It returns ctx.Err() if the context ends before a slot frees. A panic in
// the task is returned as a *task.PanicError.
func (l *localSlots) Run(ctx context.Context, t *task.Task) (result any, err error) {
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
	tc := task.NewContext(ctx, t, l.env, DriverExecutor, "")
	defer func() {
		t.Metrics = tc.Metrics()
		tc.End()
	}()
	return runRecovered(tc, t.Run)
}

func runRecovered(tc *task.Context, run func(*task.Context) (any, error)) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = task.NewPanicError(v)
		}
	}()
	return run(tc)
}
