// Package replay is the protocol by which an executor rebuilds a job of a
// driver's pipeline. Go cannot send closures, so an executor runs the same
// registered pipeline function of the same program again: the driver's
// Recorder notes the ids its run gives to RDDs and shuffles and what each
// of its jobs delivered; an executor's Replayer hands out the same ids in
// the same order, answers the earlier jobs with what they delivered on the
// driver, and stops at the job it was sent. Cache keeps what executors
// rebuilt.
package replay

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ember-go/ember/internal/rpc"
)

// Kind says what an id names.
type Kind int

// The kinds of id.
const (
	RDD Kind = iota
	Shuffle
)

func (k Kind) String() string {
	if k == Shuffle {
		return "shuffles"
	}
	return "RDDs"
}

// Recorder is one run of a pipeline on the driver: what executors need to
// rebuild its jobs.
type Recorder struct {
	pipeline string
	arg      []byte

	mu      sync.Mutex
	ids     [2][]int64 // by Kind, in the order given
	jobs    int        // started so far
	running bool       // a job is running
	// history holds what each earlier job delivered, encoded when a
	// later job needs it (most pipelines' last job needs none).
	history []func() *rpc.JobHistory
}

// NewRecorder records a run of pipeline with its encoded argument.
func NewRecorder(pipeline string, arg []byte) *Recorder {
	return &Recorder{pipeline: pipeline, arg: arg}
}

// NewID gives a new id of the kind from counter and records it.
func (r *Recorder) NewID(counter *atomic.Int64, kind Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := counter.Add(1)
	r.ids[kind] = append(r.ids[kind], id)
	return int(id)
}

// StartJob records the start of the run's next job, and returns the
// definition executors rebuild it from, with key and config (the driver's
// configuration, encoded). end must be called when the job is over, with
// what it delivered; a pipeline's jobs run one after another.
func (r *Recorder) StartJob(key uint64, config []byte) (def *rpc.DefineJob, end func(func() *rpc.JobHistory), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil, nil, fmt.Errorf("pipeline %s runs actions at the same time; on a cluster its actions must run one after another", r.pipeline)
	}
	r.running = true
	def = &rpc.DefineJob{
		JobKey:     key,
		Pipeline:   r.pipeline,
		Argument:   r.arg,
		JobIndex:   int32(r.jobs),
		Config:     config,
		RddIds:     slices.Clone(r.ids[RDD]),
		ShuffleIds: slices.Clone(r.ids[Shuffle]),
		History:    make([]*rpc.JobHistory, len(r.history)),
	}
	r.jobs++
	for i, h := range r.history {
		def.History[i] = h()
	}
	end = func(h func() *rpc.JobHistory) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.history = append(r.history, sync.OnceValue(h))
		r.running = false
	}
	return def, end, nil
}

// Replayer is a pipeline's run on an executor, rebuilding the job a
// definition names.
type Replayer struct {
	def *rpc.DefineJob

	mu   sync.Mutex
	pos  [2]int // ids handed out, by Kind
	jobs int    // started so far
}

// NewReplayer replays the run that def describes, up to its job.
func NewReplayer(def *rpc.DefineJob) *Replayer { return &Replayer{def: def} }

// Target is the index of the job to rebuild among the run's jobs.
func (r *Replayer) Target() int { return int(r.def.JobIndex) }

// NewID returns the id the driver gave the next RDD or shuffle. It fails
// when the run builds more of them on the executor than on the driver
// before its job: it takes another path.
func (r *Replayer) NewID(kind Kind) (int, error) {
	given := r.def.RddIds
	if kind == Shuffle {
		given = r.def.ShuffleIds
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos[kind] >= len(given) {
		return 0, fmt.Errorf("it builds more %s on the executor than on the driver before its job %d", kind, r.Target())
	}
	r.pos[kind]++
	return int(given[r.pos[kind]-1]), nil
}

// NextJob starts the run's next job. For a job before the target it
// returns what the job delivered on the driver; for the target, nil.
func (r *Replayer) NextJob() (index int, delivered *rpc.JobHistory, err error) {
	r.mu.Lock()
	index = r.jobs
	r.jobs++
	r.mu.Unlock()
	switch {
	case index == r.Target():
		return index, nil, nil
	case index > r.Target() || index >= len(r.def.History):
		return index, nil, fmt.Errorf("the executor has no result for its job %d", index)
	}
	return index, r.def.History[index], nil
}
