package rdd

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/internal/replay"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/wire"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// Init lets the program serve as an executor. Call it first thing in main:
// in a process started as an executor (as a local-cluster master starts
// this program for its executors) it runs the executor until it is told
// to stop, then exits; otherwise it returns at once.
//
// An executor started from another program runs this one as a worker
// child process, when a driver of this program uploads it; Init then
// serves the tasks the executor forwards, and exits when the executor says.
func Init() {
	initialized.Store(true)
	started, err := executor.ServeIfStarted()
	if !started {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ember executor:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// wireConfig is the configuration executors rebuild graphs with.
func (s *Session) wireConfig() []byte {
	b, _ := json.Marshal(s.cfg) // a struct of plain fields always encodes
	return b
}

// owns checks that every RDD of the graph ending in n was built in this
// invocation: executors can rebuild no other.
func (inv *invocation) owns(n scheduler.Node) error {
	seen := map[int]bool{}
	var walk func(scheduler.Node) error
	walk = func(n scheduler.Node) error {
		if seen[n.ID()] {
			return nil
		}
		seen[n.ID()] = true
		if nodeOf(n).s.inv != inv {
			return fmt.Errorf("%s was built outside the pipeline that runs this job; on a cluster every RDD of a job must be built inside its pipeline", n)
		}
		for _, d := range n.Dependencies() {
			if err := walk(d.Parent); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(n)
}

// runner runs the tasks of this program's pipelines on executors: the
// program's replay.Runner.
var runner = taskRunner{jobs: replay.Cache[*capturedJob]{Rebuild: rebuild, Limit: maxReplayedJobs}}

func init() { replay.Register(&runner) }

// taskRunner rebuilds jobs from their definitions, once per job on each
// executor, and runs their tasks.
type taskRunner struct {
	jobs replay.Cache[*capturedJob]
}

// maxReplayedJobs bounds the rebuilt graphs an executor keeps.
const maxReplayedJobs = 64

func (tr *taskRunner) Fingerprint() string { return registry.fingerprint() }

func (tr *taskRunner) RunTask(tc *task.Context, def *rpc.DefineJob) *rpc.TaskStatus {
	job, err := tr.jobs.Get(tc.App, def)
	if err == nil && len(job.accs) > 0 {
		// A task of a pipeline with accumulators runs on a graph of its
		// own, so that what it adds is its own to report.
		var release func()
		if job, release, err = tr.jobs.Take(tc.App, def); err == nil {
			defer func() {
				for _, a := range job.accs {
					a.reset()
				}
				release()
			}()
		}
	}
	if err != nil {
		err = task.Permanent(err)
		return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: wire.TaskErrorMessage(err)}
	}
	res, ms, err := runTask(tc, job)
	if err != nil {
		return &rpc.TaskStatus{State: rpc.TaskStatus_FAILED, Error: wire.TaskErrorMessage(err)}
	}
	st := &rpc.TaskStatus{State: rpc.TaskStatus_FINISHED, Result: res}
	if ms != nil {
		st.MapOutput = wire.MapOutputMessage(ms)
	}
	for i, a := range job.accs {
		if bits := a.valueBits(); bits != 0 {
			st.Accumulators = append(st.Accumulators, &rpc.AccumulatorValue{Index: int32(i), Bits: bits})
		}
	}
	return st
}

// runTask runs the task tc describes on a rebuilt job.
func runTask(tc *task.Context, job *capturedJob) ([]byte, *shuffle.MapStatus, error) {
	t := tc.Task()
	if t.Kind == task.ResultTask {
		res, err := job.run(tc, tc.Partition)
		return res, nil, err
	}
	dep := scheduler.FindShuffle(job.final, t.ShuffleID)
	if dep == nil {
		return nil, nil, task.Permanent(fmt.Errorf("shuffle %d is not in the graph of %s", t.ShuffleID, job.final))
	}
	if t.Kind == task.SampleTask {
		res, err := dep.Sample(tc, tc.Partition)
		return res, nil, err
	}
	if len(t.Partitioner) > 0 && dep.Restore != nil {
		if err := dep.Restore(t.Partitioner); err != nil {
			return nil, nil, task.Permanent(err)
		}
	}
	ms, err := dep.MapTask(tc, tc.Partition)
	if err != nil {
		return nil, nil, err
	}
	return nil, &ms, nil
}

// rebuild runs the pipeline of def up to the job it defines.
func rebuild(def *rpc.DefineJob) (*capturedJob, error) {
	p, ok := registry.lookup(def.Pipeline)
	if !ok {
		return nil, fmt.Errorf("pipeline %s is not registered in this program", def.Pipeline)
	}
	cfg := DefaultConfig()
	if err := json.Unmarshal(def.Config, &cfg); err != nil {
		return nil, fmt.Errorf("the driver's configuration: %w", err)
	}
	inv := &invocation{pipeline: def.Pipeline, rp: replay.NewReplayer(def)}
	st := &session{cfg: cfg}
	if err := p.replay(&Session{session: st, inv: inv}, def.Argument); err != nil {
		return nil, err
	}
	if err := checkGraph(def.Pipeline, int(def.JobIndex), def.Graph, inv.job.final.(*vertex)); err != nil {
		return nil, err
	}
	return inv.job, nil
}
