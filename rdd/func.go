package rdd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/internal/replay"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/task"
)

// A Pipeline is a function that builds RDDs and runs actions on them,
// registered with Func. Go cannot send closures to another process, so a
// cluster executor, which runs the same program, rebuilds a job's graph by
// calling the same registered function with the same argument; nodes are
// matched by the order in which the function builds them.
//
// A pipeline must take the same path on every process: it may depend on
// its argument and on the results of its own actions (which the driver
// sends along), not on clocks, random seeds it does not get from its
// argument, or state outside it. Its actions run one after another.
type Pipeline[A, R any] struct {
	name string // the function's name in the binary
	site string // file:line of the Func call
	fn   func(context.Context, *Session, A) (R, error)
	err  error // how the registration went wrong; Run returns it
}

// Func registers fn as a pipeline. Call it at package level, in a variable
// declaration, so that every process of the program registers the same
// pipelines in the same way:
//
//	var dot = rdd.Func(func(ctx context.Context, s *rdd.Session, n int) (float64, error) {
//		…build RDDs from s, run actions, return a result…
//	})
//
// The argument type A must map to Arrow, as an RDD element does: it is sent
// to executors encoded. Func panics if fn is nil or registered twice, which
// are mistakes in the program's text. A pipeline registered elsewhere than
// in the program's initialization (from a function body, or after
// rdd.Init) is not registered: its Run fails at once, on every master,
// saying so.
func Func[A, R any](fn func(ctx context.Context, s *Session, arg A) (R, error)) *Pipeline[A, R] {
	if fn == nil {
		panic("rdd.Func: nil function")
	}
	p := &Pipeline[A, R]{
		name: runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name(),
		site: callerSite(),
		fn:   fn,
	}
	if p.err = registrationError(p.site); p.err == nil {
		registry.add(p)
	}
	return p
}

// initialized is set by Init: pipelines registered after it are not the
// same in every process.
var initialized atomic.Bool

// registrationError says why a pipeline registered at site cannot be
// rebuilt by executors: every process registers the same pipelines only
// if they are registered while the program initializes its packages.
func registrationError(site string) error {
	const fix = "register pipelines in package-level variable declarations (var p = rdd.Func(…)), so that every process of the program registers them, before rdd.Init"
	switch {
	case initialized.Load():
		return fmt.Errorf("rdd.Func at %s was called after rdd.Init: %s", site, fix)
	case !initializingPackages():
		return fmt.Errorf("rdd.Func at %s was called from a function body: %s", site, fix)
	}
	return nil
}

// initializingPackages reports whether the caller runs as part of the
// program's package initialization.
func initializingPackages() bool {
	var pcs [64]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "runtime.doInit") {
			return true
		}
		if !more {
			return false
		}
	}
}

// Run runs the pipeline on s with arg and returns its result. The argument
// goes through the wire encoding on every master, so that a pipeline that
// works locally works on a cluster.
func (p *Pipeline[A, R]) Run(ctx context.Context, s *Session, arg A) (R, error) {
	var zero R
	if p.err != nil {
		return zero, fmt.Errorf("ember: pipeline %s: %w", p.name, p.err)
	}
	if s == nil {
		return zero, errors.New("ember: pipeline run with a nil session")
	}
	if s.inv != nil {
		// A pipeline run from another belongs to the outer run: the
		// executors rebuild it by running the outer one.
		return p.fn(ctx, s, arg)
	}
	enc, err := codec.EncodeValues(arg)
	if err != nil {
		return zero, fmt.Errorf("ember: pipeline %s: argument of type %T: %w", p, arg, err)
	}
	back, err := codec.DecodeValue[A](enc)
	if err != nil {
		return zero, fmt.Errorf("ember: pipeline %s: %w", p, err)
	}
	inv := &invocation{pipeline: p.name, rec: replay.NewRecorder(p.name, enc)}
	return p.fn(ctx, &Session{session: s.session, inv: inv}, back)
}

// String names the pipeline by function and registration site.
func (p *Pipeline[A, R]) String() string { return fmt.Sprintf("%s (registered at %s)", p.name, p.site) }

func (p *Pipeline[A, R]) signature() string {
	return fmt.Sprintf("%s %T %T %s", p.name, *new(A), *new(R), p.site)
}

// replay runs the pipeline on an executor until it starts the job that
// inv.replay targets, which it captures.
func (p *Pipeline[A, R]) replay(s *Session, arg []byte) (err error) {
	a, err := codec.DecodeValue[A](arg)
	if err != nil {
		return err
	}
	var fnErr error
	defer func() {
		switch v := recover().(type) {
		case nil:
			if s.inv.job == nil {
				err = fmt.Errorf("pipeline %s returned before its job %d: it takes another path on the executor than on the driver (it returned: %v)", p, s.inv.rp.Target(), fnErr)
			}
		case stopReplay:
		case replayError:
			err = fmt.Errorf("pipeline %s: %s", p, string(v))
		default:
			err = fmt.Errorf("pipeline %s panicked while its graph was rebuilt: %v", p, v)
		}
	}()
	_, fnErr = p.fn(context.Background(), s, a)
	return nil
}

// registry holds the registered pipelines of this program.
var registry = pipelines{byName: make(map[string]registered)}

type registered interface {
	signature() string
	replay(s *Session, arg []byte) error
}

type pipelines struct {
	mu     sync.Mutex
	byName map[string]registered
}

func (r *pipelines) add(p interface {
	registered
	String() string
}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := strings.Fields(p.signature())[0]
	if old, ok := r.byName[name]; ok {
		panic(fmt.Sprintf("rdd.Func: %s is registered twice (first: %s)", p, old))
	}
	r.byName[name] = p
}

func (r *pipelines) lookup(name string) (registered, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.byName[name]
	return p, ok
}

// fingerprint digests the registered pipelines: a driver and an executor
// with different ones run different programs.
func (r *pipelines) fingerprint() string {
	r.mu.Lock()
	sigs := make([]string, 0, len(r.byName))
	for _, p := range r.byName {
		sigs = append(sigs, p.signature())
	}
	r.mu.Unlock()
	slices.Sort(sigs)
	h := sha256.Sum256([]byte(strings.Join(sigs, "\n")))
	return hex.EncodeToString(h[:8])
}

// invocation is one run of a pipeline: on the driver, recorded for
// executors to rebuild its jobs (rec); on an executor, replayed up to the
// job the driver sent (rp), which it captures.
type invocation struct {
	pipeline string
	rec      *replay.Recorder
	rp       *replay.Replayer
	job      *capturedJob // the job rp stopped at

	mu   sync.Mutex
	accs []accumulator // made in the pipeline, in order
}

func (inv *invocation) addAccumulator(a accumulator) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.accs = append(inv.accs, a)
}

// accumulated adds what a finished task added to the invocation's
// accumulators.
func (inv *invocation) accumulated(added []*rpc.AccumulatorValue) {
	inv.mu.Lock()
	accs := inv.accs
	inv.mu.Unlock()
	for _, v := range added {
		if int(v.Index) < len(accs) {
			accs[v.Index].addBits(v.Bits)
		}
	}
}

// capturedJob is the job a replay stopped at: the graph and the per-task
// computation, with its result encoded.
type capturedJob struct {
	final scheduler.Node
	run   func(tc *task.Context, p int) ([]byte, error)
	accs  []accumulator // the pipeline's, as rebuilt
}

// errReplayUnwinding is what an action returns on an executor as the
// pipeline unwinds after its job was captured.
var errReplayUnwinding = errors.New("the executor's rebuild of the pipeline is over")

// stopReplay unwinds a pipeline once its target job is captured.
type stopReplay struct{}

// replayError is a replay that went astray.
type replayError string

// OnExecutor reports whether this run of a pipeline is an executor
// rebuilding one of its jobs, rather than the driver running it. A
// pipeline's code runs again on executors up to the job they need; code
// with effects meant for the driver alone (printing, timing, writing a
// summary) checks OnExecutor first.
func (s *Session) OnExecutor() bool { return s.replaying() }

// replaying reports whether the session rebuilds a pipeline's job on an
// executor, where actions must leave no trace of their own.
func (s *Session) replaying() bool { return s.inv != nil && s.inv.rp != nil }

// replayCaptured reports whether a rebuild on an executor has captured
// its job: what the pipeline runs from then on (deferred calls, as the
// rebuild unwinds) must leave the captured graph alone.
func (s *Session) replayCaptured() bool { return s.replaying() && s.inv.job != nil }

// newRDDID gives a new RDD its id: the next of the session, recorded by the
// invocation; or, on an executor, the id the driver gave the same RDD.
func (s *Session) newRDDID() int { return s.inv.newID(&s.nextRDD, replay.RDD) }

// newShuffleID is newRDDID for shuffles.
func (s *Session) newShuffleID() int { return s.inv.newID(&s.nextShuffle, replay.Shuffle) }

func (inv *invocation) newID(counter *atomic.Int64, kind replay.Kind) int {
	switch {
	case inv == nil:
		return int(counter.Add(1))
	case inv.rp != nil && inv.job != nil:
		// Built as the pipeline unwinds after its job was captured (in a
		// deferred call): never part of the job.
		return -1
	case inv.rp != nil:
		id, err := inv.rp.NewID(kind)
		if err != nil {
			panic(replayError(err.Error()))
		}
		return id
	}
	return inv.rec.NewID(counter, kind)
}

// fromDriver makes *v the driver's: on the driver, it is kept for the
// executors' rebuilds; on an executor that was sent the driver's, *v
// becomes that. Outside pipelines it does nothing.
func fromDriver[T any](inv *invocation, id int, v *[]T) {
	switch {
	case inv == nil:
	case inv.rec != nil:
		values := *v
		inv.rec.Keep(id, func() ([]byte, error) { return codec.EncodeValues(values...) })
	case inv.rp != nil:
		if enc, ok := inv.rp.Value(id); ok {
			values, err := codec.DecodeValues[T](enc)
			if err != nil {
				panic(replayError(fmt.Sprintf("the driver's value of %d: %v", id, err)))
			}
			*v = values
		}
	}
}

// skipJob records, in a pipeline on the driver, an action that failed
// with err before its job ran, so that executors replay it failing too.
func (inv *invocation) skipJob(err error) {
	if inv != nil && inv.rec != nil {
		inv.rec.Skip(history[struct{}](nil, nil, err))
	}
}

// startJob records the start of a job of the invocation on a cluster, and
// returns the description executors rebuild it from. end must be called
// when the job is over, with what it delivered.
func (inv *invocation) startJob(s *Session, final *vertex) (spec *jobSpec, end func(func() *rpc.JobHistory), err error) {
	if inv == nil {
		return nil, nil, fmt.Errorf("the master %q runs only jobs built inside a registered pipeline: "+
			"build %s inside a function registered with rdd.Func at package level, call rdd.Init() first in main, "+
			"and run the pipeline with its Run method", s.cfg.Master, final)
	}
	def, end, err := inv.rec.StartJob(s.nextJob.Add(1), s.wireConfig(), lineageGraph(final))
	if err != nil {
		return nil, nil, err
	}
	return &jobSpec{def: def, inv: inv}, end, nil
}

// jobSpec describes a job of a pipeline to executors (a replay.Spec).
type jobSpec struct {
	def    *rpc.DefineJob
	inv    *invocation
	decode func([]byte) (any, error) // a result task's encoded result
}

func (s *jobSpec) Key() uint64                               { return s.def.JobKey }
func (s *jobSpec) DecodeResult(b []byte) (any, error)        { return s.decode(b) }
func (s *jobSpec) Definition() *rpc.DefineJob                { return s.def }
func (s *jobSpec) Accumulated(added []*rpc.AccumulatorValue) { s.inv.accumulated(added) }

// returning returns a copy of spec whose results decode with decode, for
// a job run on behalf of spec's (a partitioner's sample); nil when spec
// describes no pipeline's job (local masters).
func returning(spec task.JobSpec, decode func([]byte) (any, error)) task.JobSpec {
	js, ok := spec.(*jobSpec)
	if !ok {
		return nil
	}
	c := *js
	c.decode = decode
	return &c
}

// history is what a job delivered (or its error), for the invocation's
// later jobs to replay.
func history[R any](indexes []int32, results []R, err error) *rpc.JobHistory {
	h := &rpc.JobHistory{Indexes: indexes}
	if err == nil {
		h.Results, err = codec.EncodeValues(results...)
	}
	if err != nil {
		h.Indexes, h.Error = nil, err.Error()
		for cause, target := range causes {
			if errors.Is(err, target) {
				h.Cause = cause
			}
		}
	}
	return h
}

// causes are the errors a replayed job's error keeps its identity for.
var causes = map[string]error{"canceled": context.Canceled, "deadline": context.DeadlineExceeded, "closed": ErrSessionClosed, "exists": ErrOutputExists}

// replayJob is runJob on an executor: the jobs before the target deliver
// what they delivered on the driver; the target is captured, and the
// pipeline unwound.
func replayJob[T, R any](r *RDD[T], fn func(tc *task.Context, p int, in stream[T]) (R, error), each func(i int, res R) error) error {
	inv := r.s.inv
	if inv.job != nil {
		// An action as the pipeline unwinds after its job was captured
		// (in a deferred call): what it would do is the driver's concern.
		return errReplayUnwinding
	}
	index, h, err := inv.rp.NextJob()
	if err != nil {
		panic(replayError(err.Error()))
	}
	if h != nil {
		if h.Error != "" {
			if cause, ok := causes[h.Cause]; ok {
				return fmt.Errorf("%s: %w", h.Error, cause)
			}
			return errors.New(h.Error)
		}
		results, err := codec.DecodeValues[R](h.Results)
		if err != nil || len(results) != len(h.Indexes) {
			panic(replayError(fmt.Sprintf("job %d: %d results for %d tasks: %v", index, len(results), len(h.Indexes), err)))
		}
		for k, i := range h.Indexes {
			if err := each(int(i), results[k]); err != nil {
				return err
			}
		}
		return nil
	}
	inv.mu.Lock()
	accs := inv.accs
	inv.mu.Unlock()
	// What the pipeline added on its way here, the driver counted already:
	// from now on the accumulators hold what this job's task adds.
	for _, a := range accs {
		a.reset()
	}
	inv.job = &capturedJob{final: r.vertex(), accs: accs, run: func(tc *task.Context, p int) ([]byte, error) {
		res, err := inTask(func() (R, error) { return fn(tc, p, r.resultStream(tc, p)) })
		if err != nil {
			return nil, err
		}
		return codec.EncodeValues(res)
	}}
	panic(stopReplay{})
}
