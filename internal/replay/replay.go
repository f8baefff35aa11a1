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
	Broadcast
	numKinds
)

func (k Kind) String() string {
	switch k {
	case Shuffle:
		return "shuffles"
	case Broadcast:
		return "broadcast values"
	}
	return "RDDs"
}

// Recorder is one run of a pipeline on the driver: what executors need to
// rebuild its jobs.
type Recorder struct {
	pipeline string
	arg      []byte

	mu      sync.Mutex
	ids     [numKinds][]int64 // by Kind, in the order given
	jobs    int               // started so far
	running bool              // a job is running
	// values are what the run took from the driver's memory, by the id
	// of the RDD or broadcast that holds it, encoded when a job that
	// executors rebuild first needs it.
	values map[int64]func() ([]byte, error)
	// history holds what each earlier job delivered, encoded when it
	// ended.
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

// Keep records a value the run took from the driver's memory for the RDD
// or broadcast id: executors use it instead of what they would take from
// theirs. encode is called once, when a job first needs the value.
func (r *Recorder) Keep(id int, encode func() ([]byte, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values == nil {
		r.values = make(map[int64]func() ([]byte, error))
	}
	r.values[int64(id)] = sync.OnceValues(encode)
}

// StartJob records the start of the run's next job, and returns the
// definition executors rebuild it from, with key, config (the driver's
// configuration, encoded) and graph (the job's lineage, final RDD first).
// The definition carries the values kept for the RDDs of the graph and
// every broadcast value. end must be called when the job is over, with
// what it delivered; a pipeline's jobs run one after another.
func (r *Recorder) StartJob(key uint64, config []byte, graph []*rpc.GraphNode) (def *rpc.DefineJob, end func(func() *rpc.JobHistory), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil, nil, fmt.Errorf("pipeline %s runs actions at the same time; on a cluster its actions must run one after another", r.pipeline)
	}
	def = &rpc.DefineJob{
		JobKey:       key,
		Pipeline:     r.pipeline,
		Argument:     r.arg,
		JobIndex:     int32(r.jobs),
		Config:       config,
		RddIds:       slices.Clone(r.ids[RDD]),
		ShuffleIds:   slices.Clone(r.ids[Shuffle]),
		BroadcastIds: slices.Clone(r.ids[Broadcast]),
		History:      make([]*rpc.JobHistory, len(r.history)),
		Graph:        graph,
	}
	if def.Values, err = r.valuesFor(graph); err != nil {
		return nil, nil, err
	}
	r.running = true
	r.jobs++
	for i, h := range r.history {
		def.History[i] = h()
	}
	end = func(h func() *rpc.JobHistory) {
		// Encoded now: the pipeline may change what the job delivered
		// before a later job needs it.
		ended := h()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.history = append(r.history, func() *rpc.JobHistory { return ended })
		r.running = false
	}
	return def, end, nil
}

// Skip records a job of the run that ended on the driver before it ran
// (a save refused because its output exists, say), with how it ended:
// executors replay it as such, so that the run's later jobs keep their
// places.
func (r *Recorder) Skip(ended *rpc.JobHistory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs++
	r.history = append(r.history, func() *rpc.JobHistory { return ended })
}

// valuesFor encodes the values kept for the RDDs of graph and for every
// broadcast. r.mu is held.
func (r *Recorder) valuesFor(graph []*rpc.GraphNode) ([]*rpc.DriverValue, error) {
	var ids []int64
	for _, n := range graph {
		ids = append(ids, n.Id)
	}
	ids = append(ids, r.ids[Broadcast]...)
	var out []*rpc.DriverValue
	for _, id := range ids {
		encode, ok := r.values[id]
		if !ok {
			continue
		}
		data, err := encode()
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: a value taken on the driver (id %d): %w", r.pipeline, id, err)
		}
		out = append(out, &rpc.DriverValue{Id: id, Data: data})
	}
	return out, nil
}

// Replayer is a pipeline's run on an executor, rebuilding the job a
// definition names.
type Replayer struct {
	def *rpc.DefineJob

	mu   sync.Mutex
	pos  [numKinds]int // ids handed out, by Kind
	jobs int           // started so far
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
	switch kind {
	case Shuffle:
		given = r.def.ShuffleIds
	case Broadcast:
		given = r.def.BroadcastIds
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

// Value returns the value the driver took for the RDD or broadcast id, if
// the job carries it: the RDD is in the job's graph, or it is a broadcast.
func (r *Replayer) Value(id int) ([]byte, bool) {
	for _, v := range r.def.Values {
		if v.Id == int64(id) {
			return v.Data, true
		}
	}
	return nil, false
}

// Graph is the job's lineage as the driver built it, final RDD first.
func (r *Replayer) Graph() []*rpc.GraphNode { return r.def.Graph }
