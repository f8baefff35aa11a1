package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// DefaultMaxFailures is how many times a task may fail before its job fails,
// as Spark's spark.task.maxFailures.
const DefaultMaxFailures = 4

// lostAttemptsFactor bounds the attempts of a task, counting those that
// ended with their executor, at this many times MaxFailures.
const lostAttemptsFactor = 4

// DefaultMaxStageAttempts is how many times a stage may run before its
// job fails, because the map output it reads keeps getting lost, as
// Spark's spark.stage.maxConsecutiveAttempts.
const DefaultMaxStageAttempts = 4

// dagConfig tunes a DAG. The zero value works.
type dagConfig struct {
	// MaxFailures is how many attempts a task gets before the job fails;
	// attempts that ended because their executor was lost do not count
	// (unless it exited by itself: ErrExitCausedByTask), but a task gets
	// at most four times as many attempts in all. Zero means
	// DefaultMaxFailures.
	MaxFailures int
	// MaxStageAttempts is how many times a stage runs, at most, when the
	// map output it reads is lost (an executor died) and recomputed. Zero
	// means DefaultMaxStageAttempts.
	MaxStageAttempts int
}

// StageEvent tells listeners how a stage runs: it started (with Tasks
// tasks to run), a task of it started or ended, or it ended. A stage that
// runs again, because map output it reads was lost, starts again with the
// same StageID.
type StageEvent struct {
	Kind    StageEventKind
	StageID int
	JobID   int    // of the job that ran the stage (Job.ID), for StageStarted
	Stage   string // the stage's last node, with its creation site
	Tasks   int    // for StageStarted
	Err     error  // for TaskEnded and StageEnded

	// For StageStarted: what its tasks do (a sample stage samples the
	// keys of a range partitioner's shuffle), the RDDs the stage
	// computes, parents first (its last node last), the shuffle it writes
	// (0 for a job's result stage) and the shuffles it reads.
	TaskKind  task.Kind
	RDDs      []RDDInfo
	ShuffleID int
	Reads     []int

	// For TaskStarted and TaskEnded: the task attempt.
	Task *TaskInfo
}

// TaskInfo describes a task attempt in a StageEvent.
type TaskInfo struct {
	Partition, Attempt int
	Executor           string // member name, or "driver" in local mode
	Launched           time.Time
	Duration           time.Duration // for TaskEnded
	Metrics            task.Metrics
}

func taskInfo(t *task.Task) *TaskInfo {
	info := &TaskInfo{Partition: t.Partition, Attempt: t.Attempt, Executor: t.RanOn, Launched: t.Launched, Metrics: t.Metrics}
	if info.Executor == "" {
		info.Executor = "driver"
	}
	return info
}

// StageEventKind says what a StageEvent reports.
type StageEventKind int

// The kinds of StageEvent.
const (
	StageStarted StageEventKind = iota
	TaskStarted
	TaskEnded
	StageEnded
)

// OnStageEvent registers f to be called with every stage event. Calls
// come from many goroutines; f must be quick.
func (d *dagScheduler) OnStageEvent(f func(StageEvent)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listeners = append(d.listeners, f)
}

func (d *dagScheduler) emit(ev StageEvent) {
	d.mu.Lock()
	ls := d.listeners
	d.mu.Unlock()
	for _, f := range ls {
		f(ev)
	}
}

// backend runs tasks: an executor.Local in this process, or a Cluster of
// executor processes.
type backend interface {
	// Run runs t and returns its result, once a slot is free. It returns
	// ctx's error if ctx ends first.
	Run(ctx context.Context, t *task.Task) (any, error)
}

// dagScheduler schedules the jobs of one session onto a backend.
type dagScheduler struct {
	exec    backend
	tracker *mapOutputTracker
	cfg     dagConfig

	nextStage atomic.Int64

	mu      sync.Mutex
	running map[int]*shuffleRun // shuffle ID → the map stage computing it
	lost    map[uint64]bool     // executor connections lost
	// listeners of stage events
	listeners []func(StageEvent)

	cached cacheLocations

	// waitingOnStage, if set (by a test, before jobs run), is called when
	// a job starts waiting on the map stage that another job runs.
	waitingOnStage func(shuffleID int)
}

// shuffleRun lets concurrent callers wait on the one map stage that
// computes a shuffle.
type shuffleRun struct {
	done chan struct{}
	err  error
	// cancelled says that the stage stopped because the context of the
	// job that ran it ended, which says nothing to the jobs waiting on it.
	cancelled bool
}

// newDAGScheduler returns a DAG scheduler that runs tasks on exec.
func newDAGScheduler(exec backend, cfg dagConfig) *dagScheduler {
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.MaxStageAttempts <= 0 {
		cfg.MaxStageAttempts = DefaultMaxStageAttempts
	}
	return &dagScheduler{exec: exec, tracker: newMapOutputTracker(), cfg: cfg, running: make(map[int]*shuffleRun)}
}

// CachedPartition is a partition of a persisted RDD, the executors that
// hold it, and the bytes its copies take there, in all.
type CachedPartition struct {
	RDD, Partition int
	Executors      []string
	Memory, Disk   int64
}

// CachedPartitions lists the cached partitions the executors reported.
func (d *dagScheduler) CachedPartitions() []CachedPartition { return d.cached.partitions() }

// ForgetCached forgets where the partitions of RDD rdd are cached: it was
// unpersisted.
func (d *dagScheduler) ForgetCached(rdd int) { d.cached.forgetRDD(rdd) }

// ExecutorLost forgets what a lost executor held: its map outputs, at its
// RPC address, and its cached partitions; and refuses, from now on, what
// tasks that ran on that connection (id) report.
func (d *dagScheduler) ExecutorLost(name, location string, id uint64) {
	d.mu.Lock()
	if d.lost == nil {
		d.lost = make(map[uint64]bool)
	}
	d.lost[id] = true
	d.mu.Unlock()
	d.tracker.RemoveLocation(location)
	d.cached.forget(name)
}

// ranOnLost reports whether t ran on an executor that was lost since.
func (d *dagScheduler) ranOnLost(t *task.Task) bool {
	if t.RanOnID == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost[t.RanOnID]
}

// Tracker returns the map output tracker.
func (d *dagScheduler) Tracker() *mapOutputTracker { return d.tracker }

// Job is one action: run a function over some partitions of a final node.
type Job struct {
	Final Node
	// Partitions to compute; nil means all of them.
	Partitions []int
	// Run computes one partition of Final inside a task.
	Run func(tc *task.Context, partition int) (any, error)
	// Result receives the result of Partitions[index]. Calls are serial.
	// An error from Result fails the job.
	Result func(index int, result any) error
	// Spec describes the job to executors in other processes; nil for a
	// job that runs only in this one.
	Spec task.JobSpec
	// Describe, if Spec is nil, is called by an engine whose executors
	// run in other processes to describe the job to them. Its error
	// fails the job: a job that such executors cannot rebuild.
	Describe func() (task.JobSpec, error)
	// SampleFor, if not zero, makes the job's tasks Sample tasks of that
	// shuffle (see ShuffleDependency.Prepare).
	SampleFor int
	// ID names the job in stage events; 0 keeps the ID of a job this one
	// runs on behalf of (a partitioner's sample).
	ID int
}

// jobIDKey carries the running job's ID in its context.
type jobIDKey struct{}

// TaskError is the failure of a task that used up its attempts.
type TaskError struct {
	StageID   int
	Stage     string // the last node of the stage, with its creation site
	Partition int
	Attempts  []Attempt
	Err       error // the last attempt's
}

// Attempt is one failed attempt of a task.
type Attempt struct {
	Executor string // "" in local mode
	Err      error
}

func (e *TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task %d of stage %d (%s) failed after %d attempt(s)", e.Partition, e.StageID, e.Stage, len(e.Attempts))
	switch {
	case len(e.Attempts) == 1 && e.Attempts[0].Executor == "":
		fmt.Fprintf(&b, ": %v", e.Err)
		return b.String()
	case e.sameEveryTime():
		// A deterministic failure (a panic with its stack, say) is told
		// once, not once per attempt.
		fmt.Fprintf(&b, ", every one the same way%s: %v", e.executors(), e.Attempts[0].Err)
		return b.String()
	}
	for i, a := range e.Attempts {
		fmt.Fprintf(&b, "\n  attempt %d", i+1)
		if a.Executor != "" {
			fmt.Fprintf(&b, " on %s", a.Executor)
		}
		fmt.Fprintf(&b, ": %v", a.Err)
	}
	return b.String()
}

func (e *TaskError) Unwrap() error { return e.Err }

// sameEveryTime reports whether every attempt failed the same way: with
// the same message, or the same panic in the same place (the stacks of
// two attempts differ in goroutine ids and addresses).
func (e *TaskError) sameEveryTime() bool {
	if len(e.Attempts) < 2 {
		return false
	}
	first := failure(e.Attempts[0].Err)
	for _, a := range e.Attempts[1:] {
		if failure(a.Err) != first {
			return false
		}
	}
	return true
}

// failure is what tells an attempt's failure apart from another's.
func failure(err error) string {
	var pe *task.PanicError
	if errors.As(err, &pe) {
		return fmt.Sprintf("panic in %s: %v", pe.Where, pe.Value)
	}
	return fmt.Sprint(err)
}

// executors lists where the attempts ran, in order: " (on a, b, a)", or ""
// in local mode.
func (e *TaskError) executors() string {
	var on []string
	for _, a := range e.Attempts {
		if a.Executor != "" {
			on = append(on, a.Executor)
		}
	}
	if len(on) == 0 {
		return ""
	}
	return " (on " + strings.Join(on, ", ") + ")"
}

// StageError is the failure of a stage that ran MaxStageAttempts times,
// losing map output it reads every time.
type StageError struct {
	StageID int
	Stage   string // the last node of the stage, with its creation site
	Losses  []error
}

func (e *StageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stage %d (%s) ran %d times and lost the map output it reads every time", e.StageID, e.Stage, len(e.Losses))
	for i, err := range e.Losses {
		fmt.Fprintf(&b, "\n  attempt %d: %v", i+1, err)
	}
	return b.String()
}

func (e *StageError) Unwrap() error { return e.Losses[len(e.Losses)-1] }

// RunJob runs job and returns when every partition's result has been
// delivered, the job failed, or ctx ended (then it returns ctx's error once
// the running tasks have stopped).
func (d *dagScheduler) RunJob(ctx context.Context, job Job) error {
	parts := job.Partitions
	if parts == nil {
		parts = make([]int, job.Final.NumPartitions())
		for i := range parts {
			parts[i] = i
		}
	}
	if job.ID != 0 {
		ctx = context.WithValue(ctx, jobIDKey{}, job.ID)
	}
	index := make(map[int]int, len(parts))
	for i, p := range parts {
		if p < 0 || p >= job.Final.NumPartitions() {
			return fmt.Errorf("scheduler: partition %d out of range for %s with %d partitions", p, job.Final, job.Final.NumPartitions())
		}
		index[p] = i
	}
	st := stage{node: job.Final, spec: job.Spec}
	if job.SampleFor != 0 {
		st.kind, st.shuffleID = task.SampleTask, job.SampleFor
	}
	next := func(parts []int) ([]int, error) { return parts, d.ensureParents(ctx, job.Spec, job.Final) }
	deliver := func(p int, res any) error { return job.Result(index[p], res) }
	return d.runStage(ctx, st, parts, next, job.Run, deliver)
}

// runStage runs st's tasks over the partitions next returns, given parts
// first: next readies what they read (their parent stages) and may choose
// other partitions. Tasks that lost their shuffle input run again, with
// next given their partitions once the lost map output is forgotten, so
// that next recomputes it; after MaxStageAttempts runs that lost input,
// the stage fails. The stage is numbered once its parents ran, so that
// parents have lower ids.
func (d *dagScheduler) runStage(ctx context.Context, st stage, parts []int, next func([]int) ([]int, error),
	run func(*task.Context, int) (any, error), deliver func(partition int, res any) error) error {
	var losses []error
	for attempt := 1; ; attempt++ {
		var err error
		if parts, err = next(parts); err != nil || len(parts) == 0 {
			return err
		}
		if st.id == 0 {
			st.id = d.newStageID()
		}
		lost, err := d.runTasks(ctx, st, parts, run, deliver)
		if err != nil || len(lost) == 0 {
			return err
		}
		if losses = append(losses, lost[0].err); attempt >= d.cfg.MaxStageAttempts {
			return &StageError{StageID: st.id, Stage: st.node.String(), Losses: losses}
		}
		parts = d.forgetLost(lost)
	}
}

// lostPartition is a task that could not read its shuffle input.
type lostPartition struct {
	partition int
	err       *task.FetchFailedError
}

// forgetLost unregisters the map outputs that tasks failed to fetch and
// returns those tasks' partitions, to be run again once the outputs are
// recomputed.
func (d *dagScheduler) forgetLost(lost []lostPartition) []int {
	parts := make([]int, len(lost))
	for i, l := range lost {
		d.tracker.Unregister(l.err.ShuffleID, l.err.MapID, l.err.Epoch)
		parts[i] = l.partition
	}
	return parts
}

// ensureParents makes sure every shuffle that the stage ending in n reads
// has all its map outputs, computing the missing ones (and, first, their own
// parents). Independent shuffles are computed at the same time.
func (d *dagScheduler) ensureParents(ctx context.Context, spec task.JobSpec, n Node) error {
	deps := stageShuffles(n)
	if len(deps) == 0 {
		return nil
	}
	// The first failure stops the sibling stages: the job fails anyway.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(deps))
	var wg sync.WaitGroup
	for i, dep := range deps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = d.ensureShuffle(ctx, spec, dep); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// ensureShuffle computes the missing map outputs of one shuffle. Callers
// that ask for a shuffle already being computed wait for that computation.
func (d *dagScheduler) ensureShuffle(ctx context.Context, spec task.JobSpec, dep Dependency) error {
	for {
		d.mu.Lock()
		run, ok := d.running[dep.Shuffle.ID]
		if !ok {
			run = &shuffleRun{done: make(chan struct{})}
			d.running[dep.Shuffle.ID] = run
			d.mu.Unlock()
			run.err = d.runMapStage(ctx, spec, dep)
			run.cancelled = run.err != nil && ctx.Err() != nil
			d.mu.Lock()
			delete(d.running, dep.Shuffle.ID)
			d.mu.Unlock()
			close(run.done)
			return run.err
		}
		d.mu.Unlock()
		if d.waitingOnStage != nil {
			d.waitingOnStage(dep.Shuffle.ID)
		}
		select {
		case <-run.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		// The computation we waited for may have been cancelled by its own
		// job while ours goes on: then try again ourselves.
		if !run.cancelled {
			return run.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (d *dagScheduler) runMapStage(ctx context.Context, spec task.JobSpec, dep Dependency) error {
	sd := dep.Shuffle
	numMaps := dep.Parent.NumPartitions()
	next := func([]int) ([]int, error) {
		missing := d.tracker.Missing(sd.ID, numMaps)
		if len(missing) == 0 {
			return nil, nil
		}
		if err := d.ensureParents(ctx, spec, dep.Parent); err != nil {
			return nil, err
		}
		if err := sd.prepare(ctx, spec); err != nil {
			return nil, fmt.Errorf("preparing shuffle %d of %s: %w", sd.ID, dep.Parent, err)
		}
		return missing, nil
	}
	run := func(tc *task.Context, p int) (any, error) { return sd.MapTask(tc, p) }
	register := func(_ int, res any) error {
		d.tracker.Register(sd.ID, numMaps, res.(shuffle.MapStatus))
		return nil
	}
	st := stage{node: dep.Parent, spec: spec, kind: task.MapTask, shuffleID: sd.ID, partitioner: sd.State}
	return d.runStage(ctx, st, nil, next, run, register)
}

// stage is what the tasks of one stage share.
type stage struct {
	id   int
	node Node // the stage's last node
	spec task.JobSpec
	kind task.Kind
	// shuffleID is the shuffle a map or sample stage is for.
	shuffleID int
	// partitioner, for a map stage whose shuffle was prepared, is the
	// prepared state that map tasks in other processes restore.
	partitioner func() []byte
}

// runTasks runs one task per partition of a stage, each retried up to
// MaxFailures times, and hands every result to deliver. Tasks that failed to
// fetch their shuffle input are returned as lost; any other failure that
// retries cannot mend cancels the rest and is returned.
func (d *dagScheduler) runTasks(ctx context.Context, st stage, parts []int,
	run func(*task.Context, int) (any, error), deliver func(partition int, res any) error) ([]lostPartition, error) {
	r := d.newStageRun(ctx, st, run, deliver)
	defer r.cancel(nil)
	r.emitStageStarted(len(parts))
	defer r.emitStageEnded() // before cancel(nil): a cause now is the stage's failure
	if _, local := d.exec.(*localSlots); local {
		r.order = newStartOrder(len(parts))
	}
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() { r.runTask(i, p) })
	}
	wg.Wait()
	return r.result()
}

// startOrder makes the first attempts of a stage's tasks ask for a slot
// one after another, in partition order, so that on one slot they run in
// that order, as under Spark's FIFO scheduling. Each may ask once the one
// before it has a slot, or has ended without one.
type startOrder struct {
	turns []chan struct{} // turns[i] closes when task i may ask
	once  []sync.Once
}

func newStartOrder(n int) *startOrder {
	o := &startOrder{turns: make([]chan struct{}, n+1), once: make([]sync.Once, n)}
	for i := range o.turns {
		o.turns[i] = make(chan struct{})
	}
	close(o.turns[0])
	return o
}

// wait waits for task i's turn, or for ctx to end.
func (o *startOrder) wait(ctx context.Context, i int) {
	if o == nil {
		return
	}
	select {
	case <-o.turns[i]:
	case <-ctx.Done():
	}
}

// pass gives the turn to the task after i; it may be called more than
// once.
func (o *startOrder) pass(i int) {
	if o != nil {
		o.once[i].Do(func() { close(o.turns[i+1]) })
	}
}

// stageRun is one run of a stage's tasks: what they share.
type stageRun struct {
	d           *dagScheduler
	st          stage
	run         func(*task.Context, int) (any, error)
	deliver     func(partition int, res any) error
	reads       []int  // the shuffles the stage reads
	partitioner []byte // a map stage's prepared partitioner, for its tasks

	// ctx ends when the stage fails, with the failure as its cause, or
	// when the job's own context ends.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// order, for the local backend, makes the tasks start in partition
	// order; nil on a cluster, where locality decides.
	order *startOrder

	mu       sync.Mutex // serialises deliver and guards the fields below
	lost     []lostPartition
	firstErr error
}

// newStageRun readies a run of st's tasks, which ctx's end stops.
func (d *dagScheduler) newStageRun(ctx context.Context, st stage,
	run func(*task.Context, int) (any, error), deliver func(partition int, res any) error) *stageRun {
	r := &stageRun{d: d, st: st, run: run, deliver: deliver}
	if st.partitioner != nil {
		r.partitioner = st.partitioner()
	}
	for _, dep := range stageShuffles(st.node) {
		r.reads = append(r.reads, dep.Shuffle.ID)
	}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	return r
}

// runTask runs partition p's task until an attempt settles it: its result
// is delivered, its shuffle input turns out lost, the stage stops, or the
// task fails for good, which fails the stage.
func (r *stageRun) runTask(i, p int) {
	defer r.order.pass(i) // also when the task ends without a slot
	r.order.wait(r.ctx, i)
	var tries taskTries
	for attempt := 1; ; attempt++ {
		t := r.newTask(i, p, attempt)
		res, err := r.attempt(t)
		gone := err == nil && r.d.ranOnLost(t)
		if gone && t.Kind == task.MapTask {
			// Its executor was lost as it reported: the map output is
			// gone with it. (A result is here already.)
			err = fmt.Errorf("%w: %s, as the task finished", ErrExecutorLost, t.RanOn)
		}
		if err != nil {
			tries.record(t.RanOn, err)
		}
		switch nextStep(err, r.ctx.Err() != nil, tries, r.d.cfg.MaxFailures) {
		case stepDeliver:
			if !gone {
				r.d.cached.stored(t.RanOn, t.Stored)
			}
			r.deliverResult(p, res)
			return
		case stepStop:
			return
		case stepRefetch:
			r.inputLost(p, err)
			return
		case stepFail:
			r.fail(&TaskError{StageID: r.st.id, Stage: r.st.node.String(), Partition: p, Attempts: tries.attempts, Err: err})
			return
		case stepRetry: // the next attempt
		}
	}
}

// newTask describes an attempt of partition p's task, the stage's i-th.
func (r *stageRun) newTask(i, p, attempt int) *task.Task {
	st := r.st
	t := &task.Task{
		StageID: st.id, Partition: p, Attempt: attempt,
		Run:        func(tc *task.Context) (any, error) { return r.run(tc, p) },
		MapOutputs: r.d.tracker.Statuses,
		Job:        st.spec, Kind: st.kind, ShuffleID: st.shuffleID, Reads: r.reads, Partitioner: r.partitioner,
		Cached: r.d.cached.all(st.node, p),
	}
	t.Started = func() {
		r.order.pass(i) // it has a slot: the next task may ask for one
		r.emitTaskStarted(t)
	}
	return t
}

// attempt runs t on the backend and reports its end.
func (r *stageRun) attempt(t *task.Task) (any, error) {
	returned := false
	defer func() {
		// A task that leaves its goroutine (runtime.Goexit) must not
		// leave its partition silently without a result.
		if !returned {
			r.fail(fmt.Errorf("task %d of stage %d (%s) exited without a result", t.Partition, r.st.id, r.st.node))
		}
	}()
	res, err := r.d.exec.Run(r.ctx, t)
	r.emitTaskEnded(t, err)
	returned = true
	return res, err
}

// taskTries records the failed attempts of a task.
type taskTries struct {
	attempts []Attempt
	failures int // those that count against the task
}

func (tr *taskTries) record(executor string, err error) {
	tr.attempts = append(tr.attempts, Attempt{Executor: executor, Err: err})
	// An attempt whose executor was lost says nothing of the task, unless
	// the executor exited by itself: it does not count, though attempts
	// stay bounded.
	if !errors.Is(err, ErrExecutorLost) || errors.Is(err, ErrExitCausedByTask) {
		tr.failures++
	}
}

// step is what follows an attempt of a task.
type step int

const (
	stepDeliver step = iota // it succeeded
	stepStop                // the stage stopped: its end says why
	stepRefetch             // its shuffle input is lost: recompute it, then run the task again
	stepRetry               // it failed, with attempts left
	stepFail                // it failed for good, which fails the stage
)

// nextStep says what follows an attempt that ended with err, once tries
// has recorded it; stopped says that the stage stopped.
func nextStep(err error, stopped bool, tries taskTries, maxFailures int) step {
	var ff *task.FetchFailedError
	switch {
	case err == nil:
		return stepDeliver
	case stopped:
		return stepStop
	case errors.As(err, &ff):
		return stepRefetch
	case task.IsPermanent(err) || tries.failures >= maxFailures || len(tries.attempts) >= lostAttemptsFactor*maxFailures:
		return stepFail
	}
	return stepRetry
}

// deliverResult hands on a partition's result, unless the stage failed
// already; a delivery that fails fails the stage.
func (r *stageRun) deliverResult(p int, res any) {
	r.mu.Lock()
	var err error
	if r.firstErr == nil {
		err = r.deliver(p, res)
	}
	r.mu.Unlock()
	if err != nil {
		r.fail(err)
	}
}

// inputLost sets partition p aside to run again: err, a fetch failure,
// says which map output to recompute first.
func (r *stageRun) inputLost(p int, err error) {
	var ff *task.FetchFailedError
	errors.As(err, &ff)
	r.mu.Lock()
	r.lost = append(r.lost, lostPartition{partition: p, err: ff})
	r.mu.Unlock()
}

// fail fails the stage with err, unless it failed already, and stops its
// other tasks.
func (r *stageRun) fail(err error) {
	r.mu.Lock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
	r.cancel(err)
}

// result is how the stage's run ended, once its tasks returned.
func (r *stageRun) result() ([]lostPartition, error) {
	if r.firstErr != nil {
		return nil, r.firstErr
	}
	// The job's own context ended. Its cause, if any, is for the job's
	// caller to read; jobs sharing this stage need only know it stopped.
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	return r.lost, nil
}

// emitStageStarted reports the stage's start: what it computes, reads and
// writes, with how many tasks.
func (r *stageRun) emitStageStarted(tasks int) {
	n := r.st.node
	jobID, _ := r.ctx.Value(jobIDKey{}).(int)
	r.d.emit(StageEvent{Kind: StageStarted, StageID: r.st.id, JobID: jobID, Stage: n.String(), Tasks: tasks,
		TaskKind: r.st.kind, RDDs: stageRDDs(n), ShuffleID: mapShuffle(r.st), Reads: r.reads})
}

func (r *stageRun) emitTaskStarted(t *task.Task) {
	r.d.emit(StageEvent{Kind: TaskStarted, StageID: r.st.id, Task: taskInfo(t)})
}

func (r *stageRun) emitTaskEnded(t *task.Task, err error) {
	info := taskInfo(t)
	if !t.Launched.IsZero() {
		info.Duration = time.Since(t.Launched)
	}
	r.d.emit(StageEvent{Kind: TaskEnded, StageID: r.st.id, Err: err, Task: info})
}

// emitStageEnded reports the stage's end: the cause of its context's end,
// if any, is why.
func (r *stageRun) emitStageEnded() {
	r.d.emit(StageEvent{Kind: StageEnded, StageID: r.st.id, Err: context.Cause(r.ctx)})
}

// mapShuffle is the shuffle a stage writes, if it is a map stage.
func mapShuffle(st stage) int {
	if st.kind == task.MapTask {
		return st.shuffleID
	}
	return 0
}

func (d *dagScheduler) newStageID() int { return int(d.nextStage.Add(1)) }
