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
	want, err := localSums(ctx)
	if err != nil {
		return err
	}
	cluster, s, stop, err := startWithSession(ctx, cfg, rdd.WithConf("cluster.executorWait", "3s"), rdd.WithConf("locality.wait", "-1ms"))
	if err != nil {
		return err
	}
	defer stop()
	r := &scenarioRun{logger: logger{w: cfg.Log, prefix: name + ": "}, cfg: cfg, name: name, cluster: cluster, s: s, want: want}
	s.OnTaskEnd(r.taskEnded)
	switch name {
	case "fetch":
		return r.fetch(ctx)
	case "save":
		return r.save(ctx)
	default:
		return r.killMidJob(ctx)
	}
}

// localSums returns what slowSums gives in local mode. It also checks that
// fetchSums gives the same, since the cluster's answers of either are
// compared with it.
func localSums(ctx context.Context) ([]int64, error) {
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
	return want, err
}

// A scenarioRun is one scenario on its cluster: it records the task
// events and acts once, when its trigger says so.
type scenarioRun struct {
	logger
	cfg     Config
	name    string
	cluster *Cluster
	s       *rdd.Session
	want    []int64 // local mode's answer

	mu      sync.Mutex
	events  []rdd.TaskEvent
	trigger func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool // returns true once it acted
	acted   bool
}

// taskEnded records ev and calls the trigger until it has acted.
func (r *scenarioRun) taskEnded(ev rdd.TaskEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if !r.acted && r.trigger != nil && r.trigger(ev, r.events) {
		r.acted = true
	}
}

// onTask sets the trigger of the job about to run.
func (r *scenarioRun) onTask(trigger func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trigger = trigger
}

// fetch kills the executor holding most map output once the map stage is
// done, and checks that a reduce task failed to fetch from it and the job
// still gave local mode's answer.
func (r *scenarioRun) fetch(ctx context.Context) error {
	// Once the first reduce task is done, kill the executor that ran
	// the most map tasks: the reduce tasks still sleeping before they
	// fetch find it gone.
	r.onTask(func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool {
		if ev.Kind != task.ResultTask || ev.Err != nil {
			return false
		}
		victim, _ := busiest(all)
		// In the background: the kill waits for the process to die, and
		// the report of a task should not.
		go r.kill(r.byName(victim))
		return true
	})
	got, err := fetchSums.Run(ctx, r.s, slowArgs{N: 60_000, ReduceDelay: 400 * time.Millisecond})
	if err := r.check(got, err); err != nil {
		return err
	}
	return r.sawFetchFailure()
}

// sawFetchFailure returns an error unless a task failed to fetch: else the
// kill proved nothing.
func (r *scenarioRun) sawFetchFailure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		var ff *task.FetchFailedError
		if errors.As(ev.Err, &ff) {
			r.logf("recovered: a reduce task saw %v", ev.Err)
			return nil
		}
	}
	return fmt.Errorf("no reduce task failed to fetch: the kill came too late (%d events)", len(r.events))
}

// save kills an executor while the tasks of a save run, and checks that
// each part was committed once.
func (r *scenarioRun) save(ctx context.Context) error {
	out := filepath.Join(r.cfg.Dir, "saved")
	r.onTask(func(ev rdd.TaskEvent, all []rdd.TaskEvent) bool {
		if ev.Kind != task.ResultTask {
			return false
		}
		// One save task is done: kill another executor, busy with
		// its own.
		for _, e := range r.cluster.Live() {
			if e.Name != ev.Executor {
				go r.kill([]*Executor{e})
				return true
			}
		}
		return false
	})
	if _, err := slowSave.Run(ctx, r.s, slowSaveArgs{N: 600_000, Out: out}); err != nil {
		return err
	}
	return checkOutput(out, slowPartitions)
}

// killMidJob kills every executor, or all but one, once two tasks of a job
// are done, and starts new ones after in all-then-new. It checks that the
// job gave local mode's answer, or, with none left for good, that it
// failed for want of executors.
func (r *scenarioRun) killMidJob(ctx context.Context) error {
	r.onTask(func(_ rdd.TaskEvent, all []rdd.TaskEvent) bool {
		if len(all) < 2 {
			return false
		}
		victims := r.victims()
		go func() {
			r.kill(victims)
			if r.name == "all-then-new" {
				r.replace(ctx)
			}
		}()
		return true
	})
	start := time.Now()
	got, err := slowSums.Run(ctx, r.s, slowArgs{N: 60_000, Delay: 150 * time.Millisecond})
	if r.name == "all" {
		return r.failedForWantOfExecutors(err, time.Since(start))
	}
	return r.check(got, err)
}

// victims returns the executors killMidJob kills: every live one, or all
// but one in all-but-one.
func (r *scenarioRun) victims() []*Executor {
	live := r.cluster.Live()
	if r.name == "all-but-one" {
		return live[1:]
	}
	return live
}

// failedForWantOfExecutors returns an error unless err, from a job that
// ran for d, says the cluster had no executor left.
func (r *scenarioRun) failedForWantOfExecutors(err error, d time.Duration) error {
	if !errors.Is(err, scheduler.ErrNoExecutors) {
		return fmt.Errorf("a job whose executors were all killed: %v, want it to fail for want of executors", err)
	}
	r.logf("failed as it should after %v: %v", d.Round(time.Millisecond), err)
	return nil
}

// replace starts as many executors as the cluster began with. It waits a
// while after the kills, so that the driver finds the cluster empty before
// they join, within cluster.executorWait.
func (r *scenarioRun) replace(ctx context.Context) {
	time.Sleep(500 * time.Millisecond)
	for range r.cfg.Executors {
		if e, err := r.cluster.Start(ctx); err == nil {
			r.logf("started %s", e.Name)
		}
	}
}

// byName returns the live executors of those names.
func (r *scenarioRun) byName(names ...string) []*Executor {
	var out []*Executor
	for _, e := range r.cluster.Live() {
		if slices.Contains(names, e.Name) {
			out = append(out, e)
		}
	}
	return out
}

// kill sends SIGKILL to each of es in turn.
func (r *scenarioRun) kill(es []*Executor) {
	for _, e := range es {
		r.logf("SIGKILL %s", e.Name)
		r.cluster.Kill(e)
	}
}

// check returns err, or an error if got is not local mode's answer.
func (r *scenarioRun) check(got []int64, err error) error {
	if err != nil {
		return err
	}
	if !slices.Equal(got, r.want) {
		return fmt.Errorf("result differs from local mode: %v, want %v", got, r.want)
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
