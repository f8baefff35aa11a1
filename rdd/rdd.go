package rdd

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
)

// RDD is a resilient distributed dataset of T: a lazily computed, immutable,
// partitioned collection. Transformations build new RDDs and compute
// nothing; actions (Collect, Count, Reduce, …) run a job.
//
// T must map to Arrow (see package doc). An RDD built from an unsupported
// type, a nil function or mismatched inputs carries the error; Err reports
// it at once, and every action on the RDD or on RDDs built from it returns it.
type RDD[T any] struct {
	node
	codec   *codec.Codec[T]
	compute func(tc *task.Context, partition int) stream[T]
	// reduce, when set, folds a partition with f without materializing
	// it: Map sets it so that Reduce over a Map runs one loop that calls
	// both functions, instead of a loop that writes a batch and another
	// that reads it.
	reduce func(tc *task.Context, partition int, f func(T, T) T) (acc T, ok bool, err error)
}

// stream pushes the elements of one partition, in batches, to yield. A batch
// is valid only until yield returns: whoever keeps elements copies them.
// It returns the first error met, and nil when yield asked it to stop.
type stream[T any] func(yield func(batch []T) bool) error

// node is the part of an RDD that does not depend on T: what the scheduler
// and the lineage printer see.
type node struct {
	s       *Session // with the invocation the RDD was built in, if any
	id      int
	op      string // the operation that made it: "Map", "Parallelize", …
	site    string // file:line of the call in the user's code
	nparts  int
	deps    []scheduler.Dependency
	err     error
	levelMu sync.Mutex
	level   storage.Level
	// inputBytes, for a source that reads files, is how many bytes
	// partition p reads.
	inputBytes func(p int) int64
	// partitioner, for a key-value RDD that knows how its pairs are
	// partitioned, is a Partitioner of its key type (see PartitionerOf).
	partitioner any
}

// ID returns the RDD's id, unique within its session.
func (n *node) ID() int { return n.id }

// NumPartitions returns the number of partitions.
func (n *node) NumPartitions() int { return n.nparts }

// String names the RDD by operation, id and creation site:
// "Map [3] at main.go:42".
func (n *node) String() string { return fmt.Sprintf("%s [%d] at %s", n.op, n.id, n.site) }

// Err returns the error the RDD was built with, if any: an unsupported
// element type, a nil function, inputs that do not fit. It includes errors
// of the RDDs it was built from.
func (n *node) Err() error {
	if n.err != nil {
		return n.err
	}
	for _, d := range n.deps {
		if err := nodeOf(d.Parent).Err(); err != nil {
			return err
		}
	}
	return nil
}

// Session returns the session the RDD belongs to.
func (n *node) Session() *Session { return n.s }

func (n *node) storageLevel() storage.Level {
	n.levelMu.Lock()
	defer n.levelMu.Unlock()
	return n.level
}

// vertex is an RDD as the scheduler sees it, a scheduler.Node: the
// methods the scheduler needs are vertex's, so that they are not the
// user's.
type vertex node

// vertex returns the RDD as a node of the scheduler's graph.
func (n *node) vertex() *vertex { return (*vertex)(n) }

// nodeOf returns the RDD of a node of the scheduler's graph: every node
// is a vertex.
func nodeOf(v scheduler.Node) *node { return (*node)(v.(*vertex)) }

func (v *vertex) ID() int                              { return v.id }
func (v *vertex) NumPartitions() int                   { return v.nparts }
func (v *vertex) Dependencies() []scheduler.Dependency { return v.deps }
func (v *vertex) String() string                       { return (*node)(v).String() }

// Persisted reports whether the RDD is persisted: the scheduler then
// prefers, for tasks that read a partition, the executor that computed it.
func (v *vertex) Persisted() bool { return (*node)(v).storageLevel() != storage.None }

// newRDD builds an RDD. Errors in errs (nil ones are skipped) are recorded
// with the RDD's creation site.
func newRDD[T any](s *Session, op string, nparts int, deps []scheduler.Dependency,
	compute func(tc *task.Context, partition int) stream[T], errs ...error) *RDD[T] {
	r := &RDD[T]{compute: compute}
	r.s, r.op, r.site, r.nparts, r.deps = s, op, callerSite(), nparts, deps
	if s != nil {
		r.id = s.newRDDID()
	}
	c, err := codec.For[T]()
	r.codec = c
	switch {
	case s == nil:
		r.err = errors.New("nil session")
	case s.isClosed():
		r.err = ErrSessionClosed
	case err != nil:
		r.err = err
	default:
		r.err = errors.Join(errs...)
	}
	if r.err != nil {
		r.err = &BuildError{RDD: r.String(), Err: r.err}
	}
	return r
}

// BuildError is an error in how an RDD was built.
type BuildError struct {
	RDD string // the RDD with its creation site
	Err error
}

func (e *BuildError) Error() string { return fmt.Sprintf("%s: %v", e.RDD, e.Err) }
func (e *BuildError) Unwrap() error { return e.Err }

// graphed is any RDD, as a node of the scheduler's graph.
type graphed interface{ vertex() *vertex }

// oneToOne returns the dependencies of an RDD whose partition i is computed
// from partition i of each parent, in the same task.
func oneToOne(parents ...graphed) []scheduler.Dependency {
	deps := make([]scheduler.Dependency, len(parents))
	for i, p := range parents {
		deps[i] = scheduler.OneToOne(p.vertex())
	}
	return deps
}

// iterator returns the stream of one partition, read from the block manager
// when the RDD is persisted and the partition was computed before.
func (r *RDD[T]) iterator(tc *task.Context, p int) stream[T] {
	if lvl := r.storageLevel(); lvl != storage.None {
		return r.cached(tc, p, lvl)
	}
	return r.computed(tc, p)
}

// computed computes partition p. What a source (an RDD without parents)
// yields is counted as the task's input.
func (r *RDD[T]) computed(tc *task.Context, p int) stream[T] {
	in := r.compute(tc, p)
	if len(r.deps) > 0 {
		return in
	}
	return func(yield func([]T) bool) error {
		err := in(func(b []T) bool {
			tc.AddInput(int64(len(b)), 0)
			return yield(b)
		})
		if err == nil && r.inputBytes != nil {
			tc.AddInput(0, r.inputBytes(p))
		}
		return err
	}
}

// resultStream is partition p as a job's result task reads it: its
// records count as the task's output.
func (r *RDD[T]) resultStream(tc *task.Context, p int) stream[T] {
	in := r.iterator(tc, p)
	return func(yield func([]T) bool) error {
		return in(func(b []T) bool {
			tc.AddOutput(int64(len(b)), 0)
			return yield(b)
		})
	}
}

// Schema returns the Arrow schema of the RDD's partitions, or nil if T is
// not supported (then Err says why).
func (r *RDD[T]) Schema() *arrow.Schema {
	if r.codec == nil {
		return nil
	}
	return r.codec.Schema()
}

// batchSize is how many elements a stage's operators pass at a time.
func (r *RDD[T]) batchSize() int { return r.s.cfg.BatchSize }

// PanicError is a panic in a user function, caught and turned into the
// error of its task. Where names the RDD whose function panicked.
type PanicError = task.PanicError

// guard turns a panic in a user function into a *PanicError naming the RDD,
// and panics again with it so that the task fails. Every operator runs user
// code in a function that defers guard: once per batch, not per element.
func (n *node) guard() {
	if v := recover(); v != nil {
		pe := task.NewPanicError(v)
		if pe.Where == "" {
			pe.Where = n.String()
		}
		panic(pe)
	}
}

// callerSite returns file:line of the first caller outside this package.
func callerSite() string {
	var pcs [24]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "github.com/ember-go/ember/rdd.") {
			return fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}
