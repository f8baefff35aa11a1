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
		// On an executor: the driver's value.
		if enc, ok := inv.rp.Value(id); ok {
			vs, err := codec.DecodeValues[T](enc)
			if err != nil || len(vs) != 1 {
				panic(replayError(fmt.Sprintf("the driver's broadcast value %d: %d values, %v", id, len(vs), err)))
			}
			v = vs[0]
		}
		return &Broadcast[T]{value: v}
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
	return &Broadcast[T]{value: v}
}

// Value returns the broadcast value.
func (b *Broadcast[T]) Value() T { return b.value }

// Accumulator is a number that tasks add to and the driver reads, as
// Spark's accumulators. Additions from actions (Foreach, …) count once per
// element; additions made in a transformation count once per computation of
// its partition, so a retried or recomputed task may add twice.
//
// On a cluster, an accumulator made inside a pipeline collects what the
// pipeline's tasks add on every executor: each task runs on its own copy
// of the pipeline's graph and reports what it added when it finishes. An
// attempt that fails adds nothing, so additions from actions count exactly
// once per element even when tasks are retried (as in Spark); additions in
// transformations count once per computation of their partition.
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

// Add adds v. It is safe to call from many tasks at once.
func (a *Accumulator[N]) Add(v N) {
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

func (a *Accumulator[N]) addBits(bits uint64) { a.Add(fromBits[N](bits)) }
