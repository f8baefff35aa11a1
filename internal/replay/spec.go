package replay

import (
	"sync"

	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/task"
)

// Spec is a task.JobSpec that executors rebuild through this protocol:
// what package rdd gives the scheduler for a job of a pipeline.
type Spec interface {
	task.JobSpec
	// Definition is what an executor rebuilds the job from.
	Definition() *rpc.DefineJob
	// Accumulated receives what a finished task added to the pipeline's
	// accumulators.
	Accumulated(added []*rpc.AccumulatorValue)
}

// Runner runs the tasks of a program's registered pipelines in an executor
// process: it rebuilds a job's graph from its definition and computes one
// partition. Package rdd registers the program's.
type Runner interface {
	// Fingerprint digests the registered pipelines; a driver with another
	// fingerprint runs another program and is refused.
	Fingerprint() string
	// RunTask runs the task tc describes, of the job def, and reports how
	// it ended (TaskId is filled in by the caller).
	RunTask(tc *task.Context, def *rpc.DefineJob) *rpc.TaskStatus
}

var registered struct {
	sync.Mutex
	runner Runner
}

// Register makes r the program's runner: package rdd registers its own at
// init, so that every program that can build pipelines can run them.
func Register(r Runner) {
	registered.Lock()
	defer registered.Unlock()
	registered.runner = r
}

// Registered returns the program's runner, or nil.
func Registered() Runner {
	registered.Lock()
	defer registered.Unlock()
	return registered.runner
}
