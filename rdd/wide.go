package rdd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"unsafe"

	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/internal/radix"
	"github.com/ember-go/ember/internal/spill"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// Repartition redistributes the elements evenly over numPartitions
// partitions (the current count if numPartitions <= 0), through a shuffle.
func (r *RDD[T]) Repartition(numPartitions int) *RDD[T] {
	n := r.reducePartitions(numPartitions)
	dep, errDep := newShuffleDep(r, n, func(tc *task.Context, p int, in stream[T], emit func(int, T)) error {
		next := rand.New(rand.NewPCG(uint64(p), 0x5eed)).IntN(n)
		return in(func(b []T) bool {
			for _, x := range b {
				emit(next, x)
				if next++; next == n {
					next = 0
				}
			}
			return true
		})
	})
	out := newRDD[T](r.s, "Repartition", n, dep.deps(), nil, errDep)
	out.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error { return dep.read(tc, p, out.batchSize(), yield) }
	}
	return out
}

// ReduceByKey merges the values of each key with f, which must be
// associative and commutative. Values are first merged within each map
// partition (map-side combine), then across partitions.
func ReduceByKey[K comparable, V any](r *RDD[Pair[K, V]], f func(V, V) V, numPartitions int) *RDD[Pair[K, V]] {
	return ReduceByKeyWith(r, f, defaultPartitioner[K](numPartitions, &r.node))
}

// ReduceByKeyWith is ReduceByKey into the partitions of part. If r has a
// partitioner equal to part, each partition is reduced where it is,
// without a shuffle.
func ReduceByKeyWith[K comparable, V any](r *RDD[Pair[K, V]], f func(V, V) V, part Partitioner[K]) *RDD[Pair[K, V]] {
	var create func(V) V
	if f != nil {
		create = func(v V) V { return v }
	}
	return combineByKeyWith(r, "ReduceByKey", create, f, f, part)
}

// AggregateByKey folds the values of each key into an accumulator that
// starts at zero: seq adds a value to an accumulator, comb merges two
// accumulators. Every key starts from its own copy of zero, so seq and comb
// may modify their first argument, as in Spark.
func AggregateByKey[K comparable, V, A any](r *RDD[Pair[K, V]], zero A, seq func(A, V) A, comb func(A, A) A, numPartitions int) *RDD[Pair[K, A]] {
	clone := cloner[A]()
	var create func(V) A
	if seq != nil {
		create = func(v V) A { return seq(clone(zero), v) }
	}
	return combineByKey(r, "AggregateByKey", create, seq, comb, numPartitions)
}

// combineByKey is Spark's combineByKey with map-side combine: the engine of
// ReduceByKey and AggregateByKey.
func combineByKey[K comparable, V, C any](r *RDD[Pair[K, V]], op string,
	create func(V) C, merge func(C, V) C, combine func(C, C) C, numPartitions int) *RDD[Pair[K, C]] {
	return combineByKeyWith(r, op, create, merge, combine, defaultPartitioner[K](numPartitions, &r.node))
}

// combineByKeyWith is combineByKey into the partitions of part. If r has
// part already, every key is in one partition of r, which is combined
// where it is, without a shuffle.
func combineByKeyWith[K comparable, V, C any](r *RDD[Pair[K, V]], op string,
	create func(V) C, merge func(C, V) C, combine func(C, C) C, part Partitioner[K]) *RDD[Pair[K, C]] {
	nilErr := errors.Join(nilFunc("merge function", merge == nil || create == nil), nilFunc("combine function", combine == nil))
	if err := partitionerErr(part); err != nil {
		return newRDD[Pair[K, C]](r.s, op, max(r.nparts, 1), oneToOne(r), nil, err, nilErr)
	}
	if partitionedBy(&r.node, part) {
		out := newRDD[Pair[K, C]](r.s, op, r.nparts, oneToOne(r), nil, nilErr)
		out.partitioner = part
		out.compute = func(tc *task.Context, p int) stream[Pair[K, C]] {
			return func(yield func([]Pair[K, C]) bool) error {
				return combineWithin(tc, out, r.iterator(tc, p), create, merge, combine, yield)
			}
		}
		return out
	}
	var self *node // the RDD being built, for panic messages
	dep, errDep := newShuffleDep(r, part.NumPartitions(), func(tc *task.Context, p int, in stream[Pair[K, V]], emit func(int, Pair[K, C])) error {
		acc, err := newCombiner[K](tc, self, combine)
		if err != nil {
			return err
		}
		defer acc.Close()
		rt := newRouter(part)
		var (
			full    error
			seen    int
			passing bool // keys barely repeat: combining here would only cost
		)
		err = in(func(b []Pair[K, V]) bool {
			if passing {
				passThrough(self, b, create, func(kc Pair[K, C]) { emit(rt.route(kc.Key), kc) })
				return rt.err == nil
			}
			full = acc.Account(mergeBatch(self, acc, b, create, merge))
			seen += len(b)
			passing = seen >= combineProbe && acc.Spills() == 0 && acc.Len() > seen*9/10
			return full == nil
		})
		if err = cmp.Or(err, full, rt.err); err != nil {
			return err
		}
		err = combined(self, acc, nil, func(k K, c C) bool {
			emit(rt.route(k), Pair[K, C]{k, c})
			return rt.err == nil
		})
		return cmp.Or(err, rt.err)
	})
	out := newRDD[Pair[K, C]](r.s, op, part.NumPartitions(), dep.deps(), nil, nilErr, errDep)
	out.partitioner = part
	self = &out.node
	out.compute = func(tc *task.Context, p int) stream[Pair[K, C]] {
		return func(yield func([]Pair[K, C]) bool) error {
			acc, err := newCombiner[K](tc, self, combine)
			if err != nil {
				return err
			}
			defer acc.Close()
			if rows, err := dep.rows(tc, p); err == nil {
				acc.Expect(int(min(rows, math.MaxInt32)))
			}
			var full error
			err = dep.read(tc, p, out.batchSize(), func(b []Pair[K, C]) bool {
				full = acc.Account(combineBatch(self, acc, b, combine))
				return full == nil
			})
			if err = cmp.Or(err, full); err != nil {
				return err
			}
			return pairBatches(tc, out, acc, nil, yield)
		}
	}
	return out
}

// combineWithin combines the pairs of one partition that holds all the
// values of its keys, and yields a pair per key.
func combineWithin[K comparable, V, C any](tc *task.Context, out *RDD[Pair[K, C]], in stream[Pair[K, V]],
	create func(V) C, merge func(C, V) C, combine func(C, C) C, yield func([]Pair[K, C]) bool) error {
	acc, err := newCombiner[K](tc, &out.node, combine)
	if err != nil {
		return err
	}
	defer acc.Close()
	var full error
	err = in(func(b []Pair[K, V]) bool {
		full = acc.Account(mergeBatch(&out.node, acc, b, create, merge))
		return full == nil
	})
	if err = cmp.Or(err, full); err != nil {
		return err
	}
	return pairBatches(tc, out, acc, nil, yield)
}

// combineProbe is how many elements a map task combines before it looks
// at how often keys repeat: when nine in ten keys so far were new, it
// stops combining and sends the rest on as they come, since the reduce
// side combines anyway (as adaptive partial aggregation does in
// Presto/Trino; Spark always combines).
const combineProbe = 100_000

// passThrough sends each pair of b on as its own combiner.
func passThrough[K comparable, V, C any](n *node, b []Pair[K, V], create func(V) C, emit func(Pair[K, C])) {
	defer n.guard()
	for _, kv := range b {
		emit(Pair[K, C]{kv.Key, create(kv.Value)})
	}
}

// mergeBatch merges a batch of values into their keys' combiners, and
// returns the bytes the new keys take.
func mergeBatch[K comparable, V, C any](n *node, acc *spill.Map[K, C], b []Pair[K, V], create func(V) C, merge func(C, V) C) (grew int64) {
	defer n.guard()
	vals := acc.Vals()
	for _, kv := range b {
		if i, added := acc.Slot(kv.Key); added {
			vals = acc.Vals()
			vals[i] = create(kv.Value)
			grew += acc.EntryBytes(kv.Key, vals[i])
		} else {
			vals[i] = merge(vals[i], kv.Value)
		}
	}
	return grew
}

// combineBatch merges a batch of combiners into their keys', and returns
// the bytes the new keys take.
func combineBatch[K comparable, C any](n *node, acc *spill.Map[K, C], b []Pair[K, C], combine func(C, C) C) (grew int64) {
	defer n.guard()
	vals := acc.Vals()
	for _, kc := range b {
		if i, added := acc.Slot(kc.Key); added {
			vals = acc.Vals()
			vals[i] = kc.Value
			grew += acc.EntryBytes(kc.Key, kc.Value)
		} else {
			vals[i] = combine(vals[i], kc.Value)
		}
	}
	return grew
}

// GroupByKey gathers the values of each key in one slice. Prefer
// ReduceByKey or AggregateByKey when the values are to be combined: they
// combine before the shuffle.
func GroupByKey[K comparable, V any](r *RDD[Pair[K, V]], numPartitions int) *RDD[Pair[K, []V]] {
	return groupByKey(r, defaultPartitioner[K](numPartitions, &r.node))
}

// GroupByKeyWith is GroupByKey into the partitions of part; if r has a
// partitioner equal to part, it groups each partition where it is, without
// a shuffle.
func GroupByKeyWith[K comparable, V any](r *RDD[Pair[K, V]], part Partitioner[K]) *RDD[Pair[K, []V]] {
	if err := partitionerErr(part); err != nil {
		return newRDD[Pair[K, []V]](r.s, "GroupByKey", max(r.nparts, 1), oneToOne(r), nil, err)
	}
	return groupByKey(r, part)
}

func groupByKey[K comparable, V any](r *RDD[Pair[K, V]], part Partitioner[K]) *RDD[Pair[K, []V]] {
	in, errIn := byKey(r, part)
	out := newRDD[Pair[K, []V]](r.s, "GroupByKey", part.NumPartitions(), in.deps(), nil, partitionerErr(part), errIn)
	out.partitioner = part
	out.compute = func(tc *task.Context, p int) stream[Pair[K, []V]] {
		return func(yield func([]Pair[K, []V]) bool) error {
			groups, err := groupShuffle(tc, &out.node, in, p, out.batchSize())
			if err != nil {
				return err
			}
			defer groups.Close()
			return pairBatches(tc, out, groups, func(vs []V) int { return len(vs) }, yield)
		}
	}
	return out
}

// emitByKey is a map side that sends every pair to its key's partition.
func emitByKey[K comparable, V any](part Partitioner[K]) func(*task.Context, int, stream[Pair[K, V]], func(int, Pair[K, V])) error {
	return func(_ *task.Context, _ int, in stream[Pair[K, V]], emit func(int, Pair[K, V])) error {
		rt := newRouter(part)
		err := in(func(b []Pair[K, V]) bool {
			for _, kv := range b {
				emit(rt.route(kv.Key), kv)
			}
			return rt.err == nil
		})
		return cmp.Or(err, rt.err)
	}
}

// groupShuffle reads one reduce partition of pairs into slices by key,
// spilling them as they outgrow the task's share of memory.
func groupShuffle[K comparable, V any](tc *task.Context, n *node, dep keyedInput[Pair[K, V]], p, bs int) (*spill.Map[K, []V], error) {
	groups, err := newCombiner[K](tc, n, func(a, b []V) []V { return append(a, b...) })
	if err != nil {
		return nil, err
	}
	if err := gatherSide(tc, groups, dep, p, bs, func(g *[]V, v V) { *g = append(*g, v) }); err != nil {
		groups.Close()
		return nil, err
	}
	return groups, nil
}

// Distinct returns each distinct element once. If r is partitioned by a
// partitioner (PartitionerOf) into numPartitions partitions (or
// numPartitions <= 0), equal elements are in one partition already: each
// partition loses its duplicates where it is, without a shuffle, and the
// result keeps the partitioner.
func Distinct[T comparable](r *RDD[T], numPartitions int) *RDD[T] {
	n := r.reducePartitions(numPartitions)
	if r.partitioner != nil && n == r.nparts {
		return distinctWithin(r)
	}
	part, errPart := hashPartitioner[T](n)
	var self *node
	dep, errDep := newShuffleDep(r, n, func(tc *task.Context, p int, in stream[T], emit func(int, T)) error {
		seen, err := distinctOf(tc, self, in)
		if err != nil {
			return err
		}
		defer seen.Close()
		return combined(self, seen, nil, func(x T, _ bool) bool {
			emit(part.Partition(x), x)
			return true
		})
	})
	out := newRDD[T](r.s, "Distinct", n, dep.deps(), nil, errPart, errDep)
	self = &out.node
	out.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error {
			return distinctBatches(tc, out, func(yield func([]T) bool) error { return dep.read(tc, p, out.batchSize(), yield) }, yield)
		}
	}
	return out
}

// distinctWithin is Distinct of an RDD whose equal elements are in one
// partition.
func distinctWithin[T comparable](r *RDD[T]) *RDD[T] {
	out := newRDD[T](r.s, "Distinct", r.nparts, oneToOne(r), nil)
	out.partitioner = r.partitioner
	out.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error { return distinctBatches(tc, out, r.iterator(tc, p), yield) }
	}
	return out
}

// distinctBatches yields the distinct elements of in, in batches.
func distinctBatches[T comparable](tc *task.Context, out *RDD[T], in stream[T], yield func([]T) bool) error {
	seen, err := distinctOf(tc, &out.node, in)
	if err != nil {
		return err
	}
	defer seen.Close()
	var keys iter.Seq[T] = func(yield func(T) bool) {
		err = combined(&out.node, seen, nil, func(x T, _ bool) bool { return yield(x) })
	}
	if berr := out.batches(tc, keys, yield); berr != nil {
		return berr
	}
	return err
}

// distinctOf gathers the distinct elements of in, spilling them as they
// outgrow the task's share of memory.
func distinctOf[T comparable](tc *task.Context, n *node, in stream[T]) (*spill.Map[T, bool], error) {
	seen, err := newCombiner[T](tc, n, func(a, b bool) bool { return a })
	if err != nil {
		return nil, err
	}
	var full error
	err = in(func(b []T) bool {
		var grew int64
		for _, x := range b {
			if _, added := seen.Slot(x); added {
				grew += seen.EntryBytes(x, true)
			}
		}
		full = seen.Account(grew)
		return full == nil
	})
	if err = cmp.Or(err, full); err != nil {
		seen.Close()
		return nil, err
	}
	return seen, nil
}

// SortBy sorts the elements by key(x), ascending or descending, into
// numPartitions ranges (the current count if numPartitions <= 0): partition
// i holds keys before those of partition i+1. The ranges come from a sample
// of the keys, taken by a job of its own when the sort first runs. Elements
// with equal keys keep no particular order.
func SortBy[T any, K cmp.Ordered](r *RDD[T], key func(T) K, ascending bool, numPartitions int) *RDD[T] {
	n := r.reducePartitions(numPartitions)
	rs := &rangeSampler[T, K]{parent: r, key: key, n: n, ascending: ascending}
	dep, errDep := newShuffleDep(r, n, rs.mapSide, rs)
	var out *RDD[T]
	out = newRDD(r.s, "SortBy", n, dep.deps(), func(tc *task.Context, p int) stream[T] {
		return sortedPartition(tc, out, dep, p, key, ascending)
	}, nilFunc("key function", key == nil), errDep)
	rs.sort, rs.shuffleID = &out.node, dep.dep.ID
	return out
}

// rangeSampler is SortBy's range partitioner. It comes from a sample of the
// keys, taken on the driver by Prepare before the first map task;
// executors in other processes rebuild it from the same sample, which
// State and Restore carry.
type rangeSampler[T any, K cmp.Ordered] struct {
	parent    *RDD[T]
	key       func(T) K
	n         int // reduce partitions
	ascending bool
	sort      *node // the sorted RDD, named when key panics
	shuffleID int

	mu    sync.Mutex
	part  *shuffle.Range[K] // nil until prepared or restored
	state []byte            // the sample, encoded
}

// mapSide sends every element to the reduce partition of its key's range.
func (rs *rangeSampler[T, K]) mapSide(tc *task.Context, p int, in stream[T], emit func(int, T)) error {
	part := rs.partitioner()
	var keys []K
	return in(func(b []T) bool {
		keys = keysOf(rs.sort, rs.key, b, keys[:0])
		for i, x := range b {
			emit(part.Partition(keys[i]), x)
		}
		return true
	})
}

// Sample samples the keys of one partition of the parent.
func (rs *rangeSampler[T, K]) Sample(tc *task.Context, p int) ([]byte, error) {
	return inTask(func() ([]byte, error) { return sampleKeys(tc, rs.parent, rs.sort, rs.key, rs.n, p) })
}

// Prepare runs a job of Sample tasks and builds the partitioner from what
// they return.
func (rs *rangeSampler[T, K]) Prepare(ctx context.Context, spec task.JobSpec) error {
	var sample []K
	err := rs.parent.s.engine.RunJob(ctx, scheduler.Job{
		Final: rs.parent.vertex(),
		Run:   func(tc *task.Context, p int) (any, error) { return rs.Sample(tc, p) },
		Result: func(_ int, res any) error {
			ks, err := codec.DecodeValues[K](res.([]byte))
			sample = append(sample, ks...)
			return err
		},
		Spec:      returning(spec, func(b []byte) (any, error) { return b, nil }),
		SampleFor: rs.shuffleID,
	})
	if err != nil {
		return err
	}
	state, err := codec.EncodeValues(sample...)
	if err != nil {
		return err
	}
	return rs.build(sample, state)
}

// State is the sample Prepare took, encoded.
func (rs *rangeSampler[T, K]) State() []byte {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.state
}

// Restore builds the partitioner from the driver's sample.
func (rs *rangeSampler[T, K]) Restore(state []byte) error {
	sample, err := codec.DecodeValues[K](state)
	if err != nil {
		return err
	}
	return rs.build(sample, state)
}

// build makes the partitioner from a sample, once.
func (rs *rangeSampler[T, K]) build(sample []K, state []byte) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.part != nil {
		return nil
	}
	part, err := shuffle.NewRange(rs.n, sample, rs.ascending)
	if err == nil {
		rs.part, rs.state = part, state
	}
	return err
}

func (rs *rangeSampler[T, K]) partitioner() *shuffle.Range[K] {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.part
}

// sortedPartition reads reduce partition p of a sort's shuffle, sorts it
// by key and yields it in batches. What does not fit in the task's share
// of memory is sorted in runs on disk, merged as the output streams.
func sortedPartition[T any, K cmp.Ordered](tc *task.Context, out *RDD[T], dep *shuffleDep[T], p int, key func(T) K, ascending bool) stream[T] {
	return func(yield func([]T) bool) error {
		order := func(a, b Pair[K, T]) int { return cmp.Compare(a.Key, b.Key) }
		if !ascending {
			order = func(a, b Pair[K, T]) int { return cmp.Compare(b.Key, a.Key) }
		}
		sorter, err := spill.NewSorter(tc, order)
		if err != nil {
			return fmt.Errorf("%s: %w", &out.node, err)
		}
		defer sorter.Close()
		if sort := radixByKey[K, T](ascending); sort != nil {
			sorter.SetSort(sort)
		}
		if rows, err := dep.rows(tc, p); err == nil {
			sorter.Grow(int(min(rows, math.MaxInt32)))
		}
		var (
			keys  []K
			items []Pair[K, T]
			full  error
		)
		err = dep.read(tc, p, out.batchSize(), func(b []T) bool {
			keys = keysOf(&out.node, key, b, keys[:0])
			items = items[:0]
			for i, x := range b {
				items = append(items, Pair[K, T]{keys[i], x})
			}
			full = sorter.Add(items)
			return full == nil
		})
		if err = cmp.Or(err, full); err != nil {
			return err
		}
		var merged error
		values := func(yield func(T) bool) {
			for it, err := range sorter.All() {
				if err != nil {
					merged = err
					return
				}
				if !yield(it.Value) {
					return
				}
			}
		}
		return cmp.Or(out.batches(tc, values, yield), merged)
	}
}

// radixByKey returns a radix sort of pairs by key for keys of a 64-bit
// integer kind, or nil for other keys. A Pair's key is its first field,
// which the radix sort reads.
func radixByKey[K cmp.Ordered, T any](ascending bool) func(xs, scratch []Pair[K, T]) []Pair[K, T] {
	var mask uint64
	switch reflect.TypeFor[K]().Kind() {
	case reflect.Int64, reflect.Int:
		mask = 1 << 63
	case reflect.Uint64, reflect.Uint, reflect.Uintptr:
	default:
		return nil
	}
	if unsafe.Sizeof(*new(K)) != 8 || unsafe.Offsetof(Pair[K, T]{}.Key) != 0 {
		return nil
	}
	if !ascending {
		mask = ^mask
	}
	return func(xs, scratch []Pair[K, T]) []Pair[K, T] { return radix.Sort(xs, scratch, mask) }
}

// SortByKey sorts pairs by key; see SortBy.
func SortByKey[K cmp.Ordered, V any](r *RDD[Pair[K, V]], ascending bool, numPartitions int) *RDD[Pair[K, V]] {
	return withOp(SortBy(r, func(kv Pair[K, V]) K { return kv.Key }, ascending, numPartitions), "SortByKey")
}

// sampleKeys runs a job that samples the keys of every partition of r, as
// Spark's RangePartitioner does: about 20 keys per output partition in all,
// three times over.
// sampleKeys returns a sample of the keys of partition p of r, encoded,
// sized so that the samples of all partitions give n ranges of even size.
func sampleKeys[T any, K cmp.Ordered](tc *task.Context, r *RDD[T], sort *node, key func(T) K, n, p int) ([]byte, error) {
	perPartition := (3*min(20*n, 1_000_000) + r.nparts - 1) / max(r.nparts, 1)
	var err error
	keys := func(yield func(K) bool) {
		var ks []K
		err = r.iterator(tc, p)(func(b []T) bool {
			ks = keysOf(sort, key, b, ks[:0])
			for _, k := range ks {
				if !yield(k) {
					return false
				}
			}
			return true
		})
	}
	sample, _ := shuffle.Reservoir(keys, perPartition, uint64(p))
	if err != nil {
		return nil, err
	}
	return codec.EncodeValues(sample...)
}

// keysOf appends the key of every element of b to dst.
func keysOf[T, K any](n *node, key func(T) K, b []T, dst []K) []K {
	defer n.guard()
	for _, x := range b {
		dst = append(dst, key(x))
	}
	return dst
}

// reducePartitions is the partition count of a shuffle's output.
func (r *RDD[T]) reducePartitions(n int) int {
	if n > 0 {
		return n
	}
	return max(r.nparts, 1)
}

func hashPartitioner[K comparable](n int) (*shuffle.Hash[K], error) {
	h, err := codec.Hasher[K]()
	if err != nil {
		return nil, err
	}
	return shuffle.NewHash(n, h)
}

// shuffleDep is the typed side of a scheduler.ShuffleDependency: how map
// tasks write elements of type M and how reduce tasks read them back.
type shuffleDep[M any] struct {
	dep    *scheduler.ShuffleDependency
	parent scheduler.Node
	codec  *codec.Codec[M]
}

// keySampler is a partitioner learned from a sample of the parent's keys
// (see scheduler.ShuffleDependency.Prepare).
type keySampler interface {
	Sample(tc *task.Context, mapPartition int) ([]byte, error)
	Prepare(ctx context.Context, spec task.JobSpec) error
	State() []byte
	Restore(state []byte) error
}

// newShuffleDep builds the shuffle that writes parent's partitions, through
// mapSide, as elements of type M sent to reduce partitions by emit, with
// a partitioner learned from a sample if sampler is given.
func newShuffleDep[T, M any](parent *RDD[T], nReduce int,
	mapSide func(tc *task.Context, p int, in stream[T], emit func(reduce int, m M)) error, sampler ...keySampler) (*shuffleDep[M], error) {
	mc, err := codec.For[M]()
	sd := &shuffleDep[M]{parent: parent.vertex(), codec: mc}
	sd.dep = &scheduler.ShuffleDependency{NumReduce: nReduce}
	for _, ks := range sampler {
		sd.dep.Sample, sd.dep.Prepare, sd.dep.State, sd.dep.Restore = ks.Sample, ks.Prepare, ks.State, ks.Restore
	}
	if parent.s != nil {
		sd.dep.ID = parent.s.newShuffleID()
	}
	flushRows := max(256, (1<<18)/nReduce)
	// write computes a partition of the parent and writes it as map
	// output, through mapSide.
	write := func(tc *task.Context, p int) (shuffle.MapStatus, error) {
		w, err := tc.Env.Shuffle.NewWriter(sd.dep.ID, p, tc.Attempt, nReduce, mc.Schema())
		if err != nil {
			return shuffle.MapStatus{}, err
		}
		w.UseMemory(tc)
		bufs := make([][]M, nReduce)
		var werr error
		flush := func(red int) {
			rec := mc.Encode(nil, bufs[red])
			if err := w.Write(red, rec); err != nil && werr == nil {
				werr = err
			}
			rec.Release()
			bufs[red] = bufs[red][:0]
		}
		emit := func(red int, m M) {
			bufs[red] = append(bufs[red], m)
			if len(bufs[red]) >= flushRows {
				flush(red)
			}
		}
		err = mapSide(tc, p, parent.iterator(tc, p), emit)
		for red := range bufs {
			if len(bufs[red]) > 0 {
				flush(red)
			}
		}
		if err == nil {
			err = werr
		}
		if err == nil {
			err = tc.Context().Err()
		}
		if err != nil {
			w.Abort()
			return shuffle.MapStatus{}, err
		}
		ms, err := w.Commit()
		for red, size := range ms.Sizes {
			var rows int64
			if red < len(ms.Rows) {
				rows = ms.Rows[red]
			}
			tc.AddShuffleWrite(rows, size)
		}
		return ms, err
	}
	sd.dep.MapTask = func(tc *task.Context, p int) (shuffle.MapStatus, error) {
		return inTask(func() (shuffle.MapStatus, error) { return write(tc, p) })
	}
	return sd, err
}

func (sd *shuffleDep[M]) deps() []scheduler.Dependency {
	return []scheduler.Dependency{{Parent: sd.parent, Shuffle: sd.dep}}
}

// rows is how many elements reduce partition p of the shuffle holds, as
// the map outputs counted them.
func (sd *shuffleDep[M]) rows(tc *task.Context, p int) (int64, error) {
	statuses, err := tc.MapOutputs(sd.dep.ID)
	var n int64
	for _, st := range statuses {
		if p < len(st.Rows) {
			n += st.Rows[p]
		}
	}
	return n, err
}

// read yields reduce partition p of the shuffle: the blocks of every map
// output, in map order.
func (sd *shuffleDep[M]) read(tc *task.Context, p, batchSize int, yield func([]M) bool) error {
	statuses, err := tc.MapOutputs(sd.dep.ID)
	if err != nil {
		return err
	}
	ctx := tc.Context()
	for _, st := range statuses {
		if st.Rows != nil && st.Rows[p] == 0 {
			continue
		}
		ref := shuffle.BlockRef{ShuffleID: sd.dep.ID, MapID: st.MapID, ReduceID: p, Location: st.Location}
		if p < len(st.Sizes) {
			tc.AddShuffleRead(0, st.Sizes[p])
		}
		for rec, err := range tc.Env.Fetcher.Fetch(ctx, ref) {
			if err != nil {
				// A missing or damaged block is recomputed from lineage.
				if errors.Is(err, shuffle.ErrMissingBlock) || errors.Is(err, shuffle.ErrCorruptBlock) {
					return &task.FetchFailedError{ShuffleID: ref.ShuffleID, MapID: ref.MapID, Epoch: st.Epoch, Err: err}
				}
				return err
			}
			tc.AddShuffleRead(rec.NumRows(), 0)
			stopped := false
			for b, err := range sd.codec.Batches(rec, batchSize) {
				if err != nil {
					rec.Release()
					return err
				}
				if len(b) > 0 && !yield(b) {
					stopped = true
					break
				}
			}
			rec.Release()
			if stopped {
				return nil
			}
		}
	}
	return nil
}
