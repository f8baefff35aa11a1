package chaos

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ember-go/ember/rdd"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/task"
)

// Scenarios lists the targeted cases Scenario knows.
var Scenarios = []string{"fetch", "save", "all-but-one", "all", "all-then-new"}

// Scenario runs one targeted case on a new cluster of cfg.Executors:
//
//	fetch         kill the executor holding most map output once the map
//	              stage is done: reduce tasks fail to fetch, the lost map
//	              partitions are recomputed
//	save          kill an executor while the tasks of a save run: each part
//	              is still committed once
//	all-but-one   kill every executor but one in the middle of a job
//	all           kill every executor in the middle of a job: the job fails
//	              with a clear error once cluster.executorWait has passed
//	all-then-new  kill every executor, then start new ones within the
//	              wait: the job finishes on them
//
// It returns an error if the case did not end as described.
func Scenario(ctx context.Context, cfg Config, name string) error {
	if !slices.Contains(Scenarios, name) {
		return fmt.Errorf("unknown scenario %q: want one of %v", name, Scenarios)
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, name+": "+format+"\n", args...)
		}
	}
	var want []int64
	err := inLocalMode(func(local *rdd.Session) (err error) {
		if want, err = slowSums.Run(ctx, local, slowArgs{N: 60_000}); err != nil {
			return err
		}
		sums, err := fetchSums.Run(ctx, local, slowArgs{N: 60_000})
		if err == nil && !slices.Equal(sums, want) {
			err = fmt.Errorf("the two jobs disagree in local mode: %v, %v", sums, want)
		}
		return err
	})
	if err != nil {
		return err
	}
	cluster, s, stop, err := startWithSession(ctx, cfg, rdd.WithConf("cluster.executorWait", "3s"), rdd.WithConf("locality.wait", "-1ms"))
	if err != nil {
		return err
	}
	defer stop()

	var (
		mu      sync.Mutex
		events  []rdd.TaskEvent
		trigger func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool // returns true once it acted
		acted   bool
	)
	s.OnTaskEnd(func(ev rdd.TaskEvent) {
		mu.Lock()
		events = append(events, ev)
		fire := !acted && trigger != nil && trigger(ev, events)
		if fire {
			acted = true
		}
		mu.Unlock()
	})
	byName := func(names ...string) []*Executor {
		var out []*Executor
		for _, e := range cluster.Live() {
			if slices.Contains(names, e.Name) {
				out = append(out, e)
			}
		}
		return out
	}
	kill := func(es []*Executor) {
		for _, e := range es {
			logf("SIGKILL %s", e.Name)
			cluster.Kill(e)
		}
	}
	check := func(got []int64, err error) error {
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("result differs from local mode: %v, want %v", got, want)
		}
		return nil
	}

	switch name {
	case "fetch":
		// Once the first reduce task is done, kill the executor that ran
		// the most map tasks: the reduce tasks still sleeping before they
		// fetch find it gone.
		trigger = func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool {
			if ev.Kind != task.ResultTask || ev.Err != nil {
				return false
			}
			victim, _ := busiest(all)
			go kill(byName(victim))
			return true
		}
		got, err := fetchSums.Run(ctx, s, slowArgs{N: 60_000, ReduceDelay: 400 * time.Millisecond})
		if err := check(got, err); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			var ff *task.FetchFailedError
			if errors.As(ev.Err, &ff) {
				logf("recovered: a reduce task saw %v", ev.Err)
				return nil
			}
		}
		return fmt.Errorf("no reduce task failed to fetch: the kill came too late (%d events)", len(events))

	case "save":
		out := filepath.Join(cfg.Dir, "saved")
		trigger = func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool {
			if ev.Kind != task.ResultTask {
				return false
			}
			// One save task is done: kill another executor, busy with
			// its own.
			for _, e := range cluster.Live() {
				if e.Name != ev.Executor {
					go kill([]*Executor{e})
					return true
				}
			}
			return false
		}
		if _, err := slowSave.Run(ctx, s, slowSaveArgs{N: 600_000, Out: out}); err != nil {
			return err
		}
		return checkOutput(out, slowPartitions)

	case "all-but-one", "all", "all-then-new":
		trigger = func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool {
			if len(all) < 2 {
				return false
			}
			live := cluster.Live()
			victims := live
			if name == "all-but-one" {
				victims = live[1:]
			}
			go func() {
				kill(victims)
				if name == "all-then-new" {
					time.Sleep(500 * time.Millisecond)
					for range cfg.Executors {
						if e, err := cluster.Start(ctx); err == nil {
							logf("started %s", e.Name)
						}
					}
				}
			}()
			return true
		}
		start := time.Now()
		got, err := slowSums.Run(ctx, s, slowArgs{N: 60_000, Delay: 150 * time.Millisecond})
		if name != "all" {
			return check(got, err)
		}
		if !errors.Is(err, scheduler.ErrNoExecutors) {
			return fmt.Errorf("a job whose executors were all killed: %v, want it to fail for want of executors", err)
		}
		logf("failed as it should after %v: %v", time.Since(start).Round(time.Millisecond), err)
		return nil
	}
	return nil
}

// slowPartitions is the partition count of the scenarios' jobs.
const slowPartitions = 8

type slowArgs struct {
	N                  int64
	Delay, ReduceDelay time.Duration // per partition, before the map and the reduce side
}

// slowSums sums numbers by residue through a shuffle, slowed down so that
// kills land in the middle of its stages.
var slowSums = rdd.Func(func(ctx context.Context, s *rdd.Session, a slowArgs) ([]int64, error) {
	nums := rdd.MapPartitions(rdd.Range(s, 0, a.N, slowPartitions), func(_ int, in iter.Seq[int64]) iter.Seq[rdd.Pair[int64, int64]] {
		time.Sleep(a.Delay)
		return func(yield func(rdd.Pair[int64, int64]) bool) {
			for i := range in {
				if !yield(rdd.Pair[int64, int64]{Key: i % 13, Value: i}) {
					return
				}
			}
		}
	})
	sums := rdd.MapPartitions(rdd.SortByKey(rdd.ReduceByKey(nums, func(a, b int64) int64 { return a + b }, 4), true, 4),
		func(_ int, in iter.Seq[rdd.Pair[int64, int64]]) iter.Seq[int64] {
			time.Sleep(a.ReduceDelay)
			return func(yield func(int64) bool) {
				for p := range in {
					if !yield(p.Value) {
						return
					}
				}
			}
		})
	return sums.Collect(ctx)
})

// fetchSums is slowSums without the sort, the result sorted on the driver:
// its reduce tasks, which read the shuffle, are the job's result tasks,
// each sleeping longer than the one before until it fetches.
var fetchSums = rdd.Func(func(ctx context.Context, s *rdd.Session, a slowArgs) ([]int64, error) {
	nums := rdd.Map(rdd.Range(s, 0, a.N, slowPartitions), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 13, Value: i} })
	sums := rdd.MapPartitions(rdd.ReduceByKey(nums, func(a, b int64) int64 { return a + b }, 4),
		func(p int, in iter.Seq[rdd.Pair[int64, int64]]) iter.Seq[rdd.Pair[int64, int64]] {
			time.Sleep(time.Duration(p) * a.ReduceDelay)
			return in
		})
	pairs, err := sums.Collect(ctx)
	slices.SortFunc(pairs, func(x, y rdd.Pair[int64, int64]) int { return int(x.Key - y.Key) })
	out := make([]int64, len(pairs))
	for i, p := range pairs {
		out[i] = p.Value
	}
	return out, err
})

type slowSaveArgs struct {
	N   int64
	Out string
}

// slowSave saves a computed column as Arrow files.
var slowSave = rdd.Func(func(ctx context.Context, s *rdd.Session, a slowSaveArgs) (struct{}, error) {
	values := rdd.MapPartitions(rdd.Range(s, 0, a.N, slowPartitions), func(p int, in iter.Seq[int64]) iter.Seq[float64] {
		time.Sleep(time.Duration(p%3) * 100 * time.Millisecond)
		return func(yield func(float64) bool) {
			for i := range in {
				if !yield(float64(i) * 0.5) {
					return
				}
			}
		}
	})
	return struct{}{}, values.SaveAsArrow(ctx, a.Out)
})
