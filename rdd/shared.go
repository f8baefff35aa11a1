package rdd

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/internal/replay"
)

// Broadcast is a read-only value shared by every task of a session, as
// Spark's broadcast variables are. Tasks read it with Value.
//
// Inside a pipeline, the value is the driver's: NewBroadcast encodes it at
// once, tasks read what it was then (on every master, as on a cluster),
// and executors that rebuild the pipeline use the driver's value, sent
// with the job, not the one they compute themselves. T must then map to
// Arrow, as an RDD element does.
type Broadcast[T any] struct {
	value T
	id    int         // in its pipeline; 0 outside pipelines
	inv   *invocation // the pipeline's run, or nil
	// destroyed is set by Destroy: on the driver, and on executors as
	// their rebuild of the pipeline runs the same call.
	destroyed atomic.Bool
}

// NewBroadcast shares v with the tasks of s. Outside a pipeline, v must
// not be modified afterwards.
func NewBroadcast[T any](s *Session, v T) *Broadcast[T] {
	if s == nil || s.inv == nil {
		return &Broadcast[T]{value: v}
	}
	inv := s.inv
	id := inv.newID(&s.nextRDD, replay.Broadcast)
	if inv.rp != nil {
		// On an executor: the driver's value (none for a broadcast made
		// as the pipeline unwinds, after its job was captured).
		b := &Broadcast[T]{id: id, inv: inv}
		enc, ok := inv.rp.Value(id)
		if !ok {
			return b
		}
		vs, err := codec.DecodeValues[T](enc)
		if err != nil || len(vs) != 1 {
			panic(replayError(fmt.Sprintf("the driver's broadcast value %d: %d values, %v", id, len(vs), err)))
		}
		b.value = vs[0]
		return b
	}
	// On the driver: the value as it is now, encoded for the executors;
	// tasks here read the same, decoded. A value that cannot be encoded
	// fails the first job that executors must rebuild, naming its type.
	enc, err := codec.EncodeValues(v)
	if err != nil {
		err = fmt.Errorf("broadcast value of type %T: %w", v, err)
	}
	inv.rec.Keep(id, func() ([]byte, error) { return enc, err })
	if err == nil {
		if vs, err := codec.DecodeValues[T](enc); err == nil && len(vs) == 1 {
			v = vs[0]
		}
	}
	return &Broadcast[T]{value: v, id: id, inv: inv}
}

// Value returns the broadcast value. It panics after Destroy (in a task,
// the panic fails the task), as Spark's does.
func (b *Broadcast[T]) Value() T {
	if b.destroyed.Load() {
		panic(fmt.Sprintf("rdd: broadcast %d was used after Destroy", b.id))
	}
	return b.value
}

// Unpersist drops the copies of the value that executors keep, as Spark's
// does; a later job that uses it sends it again. Executors keep the value
// only with the definitions and rebuilt graphs of the jobs that carried it,
// and drop those as the jobs end, so there is nothing more to drop: it is
// kept for Spark's sake.
func (b *Broadcast[T]) Unpersist() {}

// Destroy ends the broadcast: Value panics from then on, on the driver and
// in the tasks of later jobs. Executors rebuild a pipeline from its start,
// so a pipeline's later jobs still carry the value, for the code that
// read it before Destroy.
func (b *Broadcast[T]) Destroy() { b.destroyed.Store(true) }

// Accumulator is a number that tasks add to and the driver reads, as
// Spark's accumulators. What a task attempt adds counts when the attempt
// succeeds: an attempt that fails or is killed adds nothing, so additions
// from actions (Foreach, …) count exactly once per element even when tasks
// are retried, as in Spark; additions made in a transformation count once
// per successful computation of its partition, so a partition recomputed
// (its cached block or map output lost) adds again. Additions made on a
// goroutine the task started itself count at once.
//
// On a cluster, an accumulator made inside a pipeline collects what the
// pipeline's tasks add on every executor: each task runs on its own copy
// of the pipeline's graph and reports what it added when it finishes.
type Accumulator[N int64 | float64] struct {
	name string
	bits atomic.Uint64
}

// NewAccumulator returns a named accumulator starting at zero.
func NewAccumulator[N int64 | float64](s *Session, name string) *Accumulator[N] {
	a := &Accumulator[N]{name: name}
	if s != nil && s.inv != nil {
		s.inv.addAccumulator(a)
	}
	return a
}

// Name returns the accumulator's name.
func (a *Accumulator[N]) Name() string { return a.name }

// Add adds v. It is safe to call from many tasks at once. Called by a
// task, the addition counts when the task's attempt succeeds.
func (a *Accumulator[N]) Add(v N) {
	if at := currentAttempt(); at != nil {
		stage(at, a, v)
		return
	}
	a.add(v)
}

// add adds v at once.
func (a *Accumulator[N]) add(v N) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, toBits(fromBits[N](old)+v)) {
			return
		}
	}
}

// Value returns the current sum.
func (a *Accumulator[N]) Value() N { return fromBits[N](a.bits.Load()) }

func toBits[N int64 | float64](v N) uint64 {
	switch x := any(v).(type) {
	case float64:
		return math.Float64bits(x)
	case int64:
		return uint64(x)
	}
	panic("unreachable")
}

func fromBits[N int64 | float64](b uint64) N {
	var zero N
	switch any(zero).(type) {
	case float64:
		return N(math.Float64frombits(b))
	default:
		return N(int64(b))
	}
}

// accumulator is an Accumulator of any number type, as an invocation keeps
// them.
type accumulator interface {
	valueBits() uint64
	// reset sets it to zero.
	reset()
	// addBits adds a value an executor reported, as its bits.
	addBits(bits uint64)
}

func (a *Accumulator[N]) valueBits() uint64 { return a.bits.Load() }

func (a *Accumulator[N]) reset() { a.bits.Store(toBits(N(0))) }

func (a *Accumulator[N]) addBits(bits uint64) { a.add(fromBits[N](bits)) }
