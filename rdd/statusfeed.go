package rdd

import (
	"slices"

	"github.com/ember-go/ember/internal/status"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/task"
)

// statusFeed returns a listener of the DAG's stage events that records
// them in store. The status package knows nothing of the scheduler, which
// sits above it: its events are told to the store in the store's terms
// here.
func statusFeed(store *status.Store) func(scheduler.StageEvent) {
	return func(ev scheduler.StageEvent) {
		switch ev.Kind {
		case scheduler.StageStarted:
			store.StageStarted(statusStage(ev))
		case scheduler.TaskStarted:
			if ev.Task != nil {
				store.TaskStarted(ev.StageID, statusTask(ev.Task))
			}
		case scheduler.TaskEnded:
			if ev.Task != nil {
				store.TaskEnded(ev.StageID, statusTask(ev.Task), ev.Err)
			}
		case scheduler.StageEnded:
			store.StageEnded(ev.StageID, ev.Err)
		}
	}
}

// statusStageKinds name the stages by what their tasks do.
var statusStageKinds = map[task.Kind]status.StageKind{
	task.ResultTask: status.ResultStage,
	task.MapTask:    status.MapStage,
	task.SampleTask: status.SampleStage,
}

// statusStage describes the stage that ev starts.
func statusStage(ev scheduler.StageEvent) status.StageStart {
	rdds := make([]status.RDD, len(ev.RDDs))
	for i, r := range ev.RDDs {
		rdds[i] = status.RDD{ID: r.ID, Name: r.Name, Parents: r.Parents, Shuffles: r.Shuffles, Cached: r.Cached}
	}
	return status.StageStart{ID: ev.StageID, JobID: ev.JobID, Name: ev.Stage, Kind: statusStageKinds[ev.TaskKind], Tasks: ev.Tasks,
		RDDs: rdds, ShuffleID: ev.ShuffleID, Reads: ev.Reads}
}

// statusTask describes a task attempt. Its metrics are converted, not
// copied field by field: should the two types part, this stops compiling
// rather than drop a count.
func statusTask(t *scheduler.TaskInfo) status.TaskAttempt {
	return status.TaskAttempt{Partition: t.Partition, Attempt: t.Attempt, Executor: t.Executor, Launched: t.Launched,
		Duration: t.Duration, Metrics: status.TaskMetrics(t.Metrics)}
}

// executorStatus describes the executors for the status pages: on a
// cluster, those connected and those gossip knows; in local mode, the
// driver's task slots.
func (s *Session) executorStatus() []status.Executor {
	execs := s.engine.Executors()
	out := make([]status.Executor, len(execs))
	for i, e := range execs {
		out[i] = status.Executor{Name: e.Name, Address: e.Address, Gossip: e.Gossip, State: e.State, Reason: e.Reason,
			Cores: e.Cores, MemoryUsed: e.MemoryUsed, MemoryLimit: e.MemoryLimit, DiskUsed: e.DiskUsed,
			MemoryBudget: e.MemoryBudget, ExecutionUsed: e.ExecutionUsed}
	}
	return out
}

// storageStatus describes the cached partitions, by RDD.
func (s *Session) storageStatus() []status.CachedRDD {
	byRDD := map[int]*status.CachedRDD{}
	for _, p := range s.engine.Cached() {
		c := byRDD[p.RDD]
		if c == nil {
			c = &status.CachedRDD{RDD: p.RDD}
			byRDD[p.RDD] = c
		}
		c.Partitions++
		c.MemBytes += p.Memory
		c.DiskBytes += p.Disk
		for _, e := range p.Executors {
			if !slices.Contains(c.Executors, e) {
				c.Executors = append(c.Executors, e)
			}
		}
	}
	out := make([]status.CachedRDD, 0, len(byRDD))
	for _, c := range byRDD {
		slices.Sort(c.Executors)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b status.CachedRDD) int { return a.RDD - b.RDD })
	return out
}
