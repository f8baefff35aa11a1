package chaos

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/ember-go/ember/rdd"
	"github.com/ember-go/ember/task"
)

// RecoveryFigures compare a job with and without an executor killed
// halfway through its first stage.
type RecoveryFigures struct {
	Clean, Killed time.Duration // best of the runs
	// LostWork is the summed duration of the map tasks whose output died
	// with the killed executor, in the run that measured Killed.
	LostWork time.Duration
	Lost     int // those map tasks
}

// Extra is the time the kill cost.
func (f RecoveryFigures) Extra() time.Duration { return f.Killed - f.Clean }

// Met reports whether the kill cost at most the lost work's recompute time
// plus 2 s.
func (f RecoveryFigures) Met() bool { return f.Extra() <= f.LostWork+2*time.Second }

// recoveryParts is the first stage's partition count.
const recoveryParts = 12

// Recovery measures a 2-stage job (CPU-bound map tasks, a shuffle, a
// reduce) on cfg.Executors executors, runs times each way: on its own, and
// with the executor that ran the most map tasks killed once half of them
// are done. Both answers are checked against local mode.
func Recovery(ctx context.Context, cfg Config, work int64, runs int) (RecoveryFigures, error) {
	f := RecoveryFigures{Clean: math.MaxInt64, Killed: math.MaxInt64}
	var want []int64
	if err := inLocalMode(func(local *rdd.Session) (err error) { want, err = crunch.Run(ctx, local, work); return err }); err != nil {
		return f, err
	}
	cluster, s, stop, err := startWithSession(ctx, cfg)
	if err != nil {
		return f, err
	}
	defer stop()
	b := &recoveryBench{cfg: cfg, cluster: cluster, s: s, work: work, want: want}
	s.OnTaskEnd(b.taskEnded)
	for range max(runs, 1) {
		if err := b.round(ctx, &f); err != nil {
			return f, err
		}
	}
	return f, nil
}

// A recoveryBench runs crunch on a cluster, with or without a kill, and
// records the task events of the run in progress.
type recoveryBench struct {
	cfg     Config
	cluster *Cluster
	s       *rdd.Session
	work    int64
	want    []int64 // local mode's answer

	mu      sync.Mutex
	events  []rdd.TaskEvent
	killing bool   // whether this run kills an executor
	victim  string // the executor it killed, once it has
}

// round runs the job once without a kill and once with one, and keeps in
// f the best time of each.
func (b *recoveryBench) round(ctx context.Context, f *RecoveryFigures) error {
	d, err := b.clean(ctx)
	if err != nil {
		return err
	}
	f.Clean = min(f.Clean, d)
	k, err := b.killed(ctx)
	if err != nil {
		return err
	}
	// The lost work is only reported for the run whose time is reported.
	if k.Killed < f.Killed {
		f.Killed, f.LostWork, f.Lost = k.Killed, k.LostWork, k.Lost
	}
	return b.restore(ctx)
}

// clean times a run without a kill.
func (b *recoveryBench) clean(ctx context.Context) (time.Duration, error) {
	b.mu.Lock()
	b.events, b.killing = nil, false
	b.mu.Unlock()
	return b.run(ctx)
}

// killed times a run with a kill halfway through the first stage, and
// returns the time as Killed along with the map work the kill lost.
func (b *recoveryBench) killed(ctx context.Context) (RecoveryFigures, error) {
	b.mu.Lock()
	b.events, b.killing, b.victim = nil, true, ""
	b.mu.Unlock()
	d, err := b.run(ctx)
	if err != nil {
		return RecoveryFigures{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.killing = false
	lostWork, lost := mapWork(b.events, b.victim)
	return RecoveryFigures{Killed: d, LostWork: lostWork, Lost: lost}, nil
}

// run times one run of the job and checks its answer.
func (b *recoveryBench) run(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	got, err := crunch.Run(ctx, b.s, b.work)
	if err == nil && !slices.Equal(got, b.want) {
		err = fmt.Errorf("result %v differs from local mode's %v", got, b.want)
	}
	return time.Since(start), err
}

// restore brings the cluster back to full strength, so that every round
// starts alike.
func (b *recoveryBench) restore(ctx context.Context) error {
	if _, err := b.cluster.Start(ctx); err != nil {
		return err
	}
	return waitFor(ctx, func() bool { return len(b.s.Executors()) >= b.cfg.Executors })
}

// taskEnded records ev, and kills an executor if the run should.
func (b *recoveryBench) taskEnded(ev rdd.TaskEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, ev)
	if b.killing {
		b.killBusiest()
	}
}

// killBusiest kills the executor that ran the most map tasks once half of
// them are done: its map output is the most there is to recompute. It
// kills once a run; b.mu is held.
func (b *recoveryBench) killBusiest() {
	busiest, done := busiest(b.events)
	if b.victim != "" || done < recoveryParts/2 {
		return
	}
	b.victim = busiest
	for _, e := range b.cluster.Live() {
		if e.Name == b.victim {
			// In the background: the kill waits for the process to
			// die, and the report of a task should not.
			go b.cluster.Kill(e)
		}
	}
}

// mapWork returns the summed duration and the number of the map tasks
// that executor finished among events.
func mapWork(events []rdd.TaskEvent, executor string) (d time.Duration, n int) {
	for _, e := range events {
		if e.Kind == task.MapTask && e.Err == nil && e.Executor == executor {
			d += e.Duration
			n++
		}
	}
	return d, n
}

// busiest returns the executor that finished the most map tasks among
// events (ties go to the first name), and how many map tasks finished.
func busiest(events []rdd.TaskEvent) (name string, maps int) {
	ran := map[string]int{}
	for _, e := range events {
		if e.Kind == task.MapTask && e.Err == nil {
			ran[e.Executor]++
			maps++
		}
	}
	for e, n := range ran {
		if name == "" || n > ran[name] || n == ran[name] && e < name {
			name = e
		}
	}
	return name, maps
}

// crunch is the recovery benchmark's job: CPU-bound map tasks, then a
// shuffle to a few reducers.
var crunch = rdd.Func(func(ctx context.Context, s *rdd.Session, work int64) ([]int64, error) {
	keyed := rdd.MapPartitions(rdd.Range(s, 0, recoveryParts*work, recoveryParts), func(p int, in iter.Seq[int64]) iter.Seq[rdd.Pair[int64, int64]] {
		return func(yield func(rdd.Pair[int64, int64]) bool) {
			for i := range in {
				v := int64(math.Sqrt(float64(i))*1000) % 977
				if !yield(rdd.Pair[int64, int64]{Key: i % 7, Value: v}) {
					return
				}
			}
		}
	})
	sums, err := rdd.SortByKey(rdd.ReduceByKey(keyed, func(a, b int64) int64 { return a + b }, 3), true, 1).Collect(ctx)
	out := make([]int64, len(sums))
	for i, p := range sums {
		out[i] = p.Value
	}
	return out, err
})

// Detection measures, n times, the time from the SIGKILL of an executor
// to the driver counting it lost, starting a new executor after each.
func Detection(ctx context.Context, cfg Config, n int) ([]time.Duration, error) {
	cluster, s, stop, err := startWithSession(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer stop()
	var times []time.Duration
	for range n {
		live := cluster.Live()
		victim := live[0]
		start := time.Now()
		if err := cluster.Kill(victim); err != nil {
			return times, err
		}
		if err := waitFor(ctx, func() bool { return !slices.Contains(s.Executors(), victim.Name) }); err != nil {
			return times, err
		}
		times = append(times, time.Since(start))
		if _, err := cluster.Start(ctx); err != nil {
			return times, err
		}
		if err := waitFor(ctx, func() bool { return len(s.Executors()) >= cfg.Executors }); err != nil {
			return times, err
		}
	}
	return times, nil
}

// waitFor polls cond every millisecond, for at most 30 s.
func waitFor(ctx context.Context, cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within 30 s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
