package rdd

import (
	"errors"
	"fmt"
	"math"

	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// Partitioner says which partition of a key-value RDD holds each key, as
// Spark's Partitioner does. An RDD made by PartitionBy or by a wide
// operation by key knows its partitioner (PartitionerOf), and so do the
// RDDs that Filter, MapValues, FlatMapValues and Cache make of it. A wide
// operation whose input already has the partitioner it needs reads that
// input's partitions where they are, without a shuffle: ReduceByKey of an
// RDD partitioned by its keys combines within each partition, and a Join
// of two RDDs with equal partitioners joins them partition by partition.
//
// Partition must give a key the same partition in every process: the
// tasks of a job run on many executors. A job's partitioners are built
// where its RDDs are, so on a cluster inside the job's rdd.Func.
type Partitioner[K any] interface {
	// NumPartitions is how many partitions there are, at least 1.
	NumPartitions() int
	// Partition returns the partition of key, in [0, NumPartitions()).
	Partition(key K) int
	// Equal reports whether p puts every key in the same partition as
	// this partitioner does. Two RDDs with equal partitioners are
	// co-partitioned.
	Equal(p Partitioner[K]) bool
}

// HashPartitioner puts a key in the partition its hash gives, modulo the
// partition count, as Spark's HashPartitioner: the partitioner of every
// wide operation given a partition count. The hash is deterministic
// across processes (see the package doc for the key types it takes). Two
// hash partitioners of the same count are equal.
type HashPartitioner[K comparable] struct {
	n    int
	hash *shuffle.Hash[K] // nil if err
	err  error
}

// NewHashPartitioner returns a hash partitioner over numPartitions
// partitions. A count below 1 or a key type that cannot be hashed is
// reported by Err, and by any RDD built with the partitioner.
func NewHashPartitioner[K comparable](numPartitions int) *HashPartitioner[K] {
	h, err := hashPartitioner[K](numPartitions)
	return &HashPartitioner[K]{n: numPartitions, hash: h, err: err}
}

// NumPartitions returns the partition count.
func (p *HashPartitioner[K]) NumPartitions() int { return p.n }

// Partition returns the partition of key: 0 if the partitioner is not
// valid (see Err).
func (p *HashPartitioner[K]) Partition(key K) int {
	if p.hash == nil {
		return 0
	}
	return p.hash.Partition(key)
}

// Equal reports whether q is a valid hash partitioner of the same count.
func (p *HashPartitioner[K]) Equal(q Partitioner[K]) bool {
	h, ok := q.(*HashPartitioner[K])
	return ok && p.err == nil && h.err == nil && h.n == p.n
}

// Err reports why the partitioner is not valid, or nil.
func (p *HashPartitioner[K]) Err() error { return p.err }

// String returns "HashPartitioner(n)".
func (p *HashPartitioner[K]) String() string { return fmt.Sprintf("HashPartitioner(%d)", p.n) }

// PartitionerOf returns the partitioner of r, or nil if r does not know
// how its pairs are partitioned.
func PartitionerOf[K comparable, V any](r *RDD[Pair[K, V]]) Partitioner[K] {
	p, _ := r.partitioner.(Partitioner[K])
	return p
}

// PartitionBy returns r with its pairs in the partitions p gives their
// keys, through a shuffle; the result knows p, so that wide operations
// with an equal partitioner, and joins with RDDs partitioned alike, need
// no shuffle of it. If r already has a partitioner equal to p, PartitionBy
// returns r. A key that p puts outside [0, p.NumPartitions()) fails the
// task with an error naming the key.
func PartitionBy[K comparable, V any](r *RDD[Pair[K, V]], p Partitioner[K]) *RDD[Pair[K, V]] {
	if err := partitionerErr(p); err != nil {
		return newRDD[Pair[K, V]](r.s, "PartitionBy", max(r.nparts, 1), oneToOne(r), nil, err)
	}
	if partitionedBy(&r.node, p) {
		return r
	}
	dep, errDep := newShuffleDep(r, p.NumPartitions(), emitByKey[K, V](p))
	out := newRDD[Pair[K, V]](r.s, "PartitionBy", p.NumPartitions(), dep.deps(), nil, errDep)
	out.compute = func(tc *task.Context, part int) stream[Pair[K, V]] {
		return func(yield func([]Pair[K, V]) bool) error { return dep.read(tc, part, out.batchSize(), yield) }
	}
	out.partitioner = p
	return out
}

// partitionerErr reports a nil partitioner, one without partitions, or
// one whose Err says it is not valid.
func partitionerErr[K any](p Partitioner[K]) error {
	if p == nil {
		return errors.New("nil partitioner")
	}
	if v, ok := p.(interface{ Err() error }); ok && v.Err() != nil {
		return v.Err()
	}
	if n := p.NumPartitions(); n < 1 {
		return fmt.Errorf("partitioner %v has %d partitions, want at least 1", p, n)
	}
	return nil
}

// partitionedBy reports whether the RDD n is partitioned by a partitioner
// equal to p.
func partitionedBy[K any](n *node, p Partitioner[K]) bool {
	q, ok := n.partitioner.(Partitioner[K])
	return ok && q.NumPartitions() == n.nparts && p.Equal(q)
}

// defaultPartitioner is the partitioner of a wide operation by key over
// inputs, given numPartitions: a hash partitioner of that count if it is
// positive; otherwise, as Spark's Partitioner.defaultPartitioner, the
// partitioner of the input with the most partitions among those that have
// one, if it has at least a tenth as many partitions as the largest
// input, and else a hash partitioner over as many partitions as the
// largest input has.
func defaultPartitioner[K comparable](numPartitions int, inputs ...*node) Partitioner[K] {
	if numPartitions > 0 {
		return NewHashPartitioner[K](numPartitions)
	}
	most := 1
	var best Partitioner[K]
	for _, in := range inputs {
		most = max(most, in.nparts)
		if p, ok := in.partitioner.(Partitioner[K]); ok && (best == nil || in.nparts > best.NumPartitions()) {
			best = p
		}
	}
	if best != nil && (math.Log10(float64(most))-math.Log10(float64(best.NumPartitions())) < 1) {
		return best
	}
	return NewHashPartitioner[K](most)
}

// keyedInput is one input of a wide operation by key, as the operation's
// tasks read it: a shuffle that sends each pair to its key's partition, or,
// when the input already has the operation's partitioner, the input's own
// partitions (a narrow dependency, as in Spark's CoGroupedRDD).
type keyedInput[M any] interface {
	// deps is the operation's dependency on the input.
	deps() []scheduler.Dependency
	// rows is how many pairs partition p holds, when it is known.
	rows(tc *task.Context, p int) (int64, error)
	// read yields partition p in batches of up to batchSize pairs.
	read(tc *task.Context, p, batchSize int, yield func([]M) bool) error
}

// byKey returns how a wide operation with partitioner part reads r.
func byKey[K comparable, V any](r *RDD[Pair[K, V]], part Partitioner[K]) (keyedInput[Pair[K, V]], error) {
	if partitionedBy(&r.node, part) {
		return narrowInput[Pair[K, V]]{r}, nil
	}
	return newShuffleDep(r, part.NumPartitions(), emitByKey[K, V](part))
}

// narrowInput is an input that a wide operation reads partition by
// partition, in the same task: it is partitioned as the operation needs.
type narrowInput[M any] struct{ parent *RDD[M] }

// errRowsUnknown is rows' answer for a partition not yet computed.
var errRowsUnknown = errors.New("rows not known before the partition is computed")

func (in narrowInput[M]) deps() []scheduler.Dependency { return oneToOne(in.parent) }

func (in narrowInput[M]) rows(*task.Context, int) (int64, error) { return 0, errRowsUnknown }

func (in narrowInput[M]) read(tc *task.Context, p, _ int, yield func([]M) bool) error {
	return in.parent.iterator(tc, p)(yield)
}

// router finds the partitions of keys by a partitioner, checking what a
// partitioner that is not Ember's own returns: the first key it puts out
// of range is kept for err, and routed to partition 0 meanwhile, so that
// the map task can fail with it once its loop ends.
type router[K comparable] struct {
	part Partitioner[K]
	hash *shuffle.Hash[K] // for a HashPartitioner, which needs no check
	n    int
	err  error
}

func newRouter[K comparable](part Partitioner[K]) *router[K] {
	rt := &router[K]{part: part, n: part.NumPartitions()}
	if h, ok := part.(*HashPartitioner[K]); ok {
		rt.hash = h.hash
	}
	return rt
}

// route returns the partition of k.
func (rt *router[K]) route(k K) int {
	if rt.hash != nil {
		return rt.hash.Partition(k)
	}
	i := rt.part.Partition(k)
	if i < 0 || i >= rt.n {
		if rt.err == nil {
			rt.err = fmt.Errorf("partitioner %v put key %v in partition %d, want one in [0, %d)", rt.part, k, i, rt.n)
		}
		return 0
	}
	return i
}
