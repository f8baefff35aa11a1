package rdd

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/ember-go/ember/internal/spill"
	"github.com/ember-go/ember/task"
)

// Optional is a value that may be absent, as Spark's Option: the side of an
// outer join that had no match has Valid false.
type Optional[T any] struct {
	Value T
	Valid bool
}

// Keys returns the key of every pair.
func Keys[K comparable, V any](r *RDD[Pair[K, V]]) *RDD[K] {
	return withOp(Map(r, func(kv Pair[K, V]) K { return kv.Key }), "Keys")
}

// Values returns the value of every pair.
func Values[K comparable, V any](r *RDD[Pair[K, V]]) *RDD[V] {
	return withOp(Map(r, func(kv Pair[K, V]) V { return kv.Value }), "Values")
}

// FlatMapValues replaces every pair by one pair per value f returns, with
// the same key, and keeps r's partitioner.
func FlatMapValues[K comparable, V, W any](r *RDD[Pair[K, V]], f func(V) []W) *RDD[Pair[K, W]] {
	if f == nil {
		return withOp(FlatMap[Pair[K, V], Pair[K, W]](r, nil), "FlatMapValues")
	}
	return keepPartitioner(r, withOp(FlatMap(r, func(kv Pair[K, V]) []Pair[K, W] {
		ws := f(kv.Value)
		out := make([]Pair[K, W], len(ws))
		for i, w := range ws {
			out[i] = Pair[K, W]{kv.Key, w}
		}
		return out
	}), "FlatMapValues"))
}

// CombineByKey is the general per-key aggregation that ReduceByKey and
// AggregateByKey are made of, as Spark's combineByKey: create turns a key's
// first value in a map partition into a combiner, merge adds further values
// to it, and combine merges the combiners of different map partitions
// after the shuffle.
func CombineByKey[K comparable, V, C any](r *RDD[Pair[K, V]], create func(V) C, merge func(C, V) C, combine func(C, C) C, numPartitions int) *RDD[Pair[K, C]] {
	return combineByKey(r, "CombineByKey", create, merge, combine, numPartitions)
}

// FoldByKey merges the values of each key with f, starting from zero in
// every map partition, as Spark's foldByKey.
// Every key starts from its own copy of zero, so f may modify its first
// argument.
func FoldByKey[K comparable, V any](r *RDD[Pair[K, V]], zero V, f func(V, V) V, numPartitions int) *RDD[Pair[K, V]] {
	clone := cloner[V]()
	var create func(V) V
	if f != nil {
		create = func(v V) V { return f(clone(zero), v) }
	}
	return combineByKey(r, "FoldByKey", create, f, f, numPartitions)
}

// CoGroup gathers, for every key of a or b, its values in a and its values
// in b (either may be empty).
func CoGroup[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], numPartitions int) *RDD[Pair[K, Pair[[]V, []W]]] {
	return CoGroupWith(a, b, defaultPartitioner[K](numPartitions, &a.node, &b.node))
}

// CoGroupWith is CoGroup into the partitions of part. A side that already
// has a partitioner equal to part is read where it is, without a shuffle.
func CoGroupWith[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], part Partitioner[K]) *RDD[Pair[K, Pair[[]V, []W]]] {
	return coGroupOrJoin(a, b, "CoGroup", part, func(k K, vs []V, ws []W, yield func(Pair[K, Pair[[]V, []W]]) bool) bool {
		return yield(Pair[K, Pair[[]V, []W]]{k, Pair[[]V, []W]{vs, ws}})
	}, nil)
}

// Join returns, for every key in both a and b, each pair of a value from a
// and a value from b (an inner join).
func Join[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], numPartitions int) *RDD[Pair[K, Pair[V, W]]] {
	return JoinWith(a, b, defaultPartitioner[K](numPartitions, &a.node, &b.node))
}

// JoinWith is Join into the partitions of part. A side that already has a
// partitioner equal to part is read where it is, without a shuffle: two
// RDDs partitioned alike are joined partition by partition.
func JoinWith[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], part Partitioner[K]) *RDD[Pair[K, Pair[V, W]]] {
	match := func(k K, v V, w W, yield func(Pair[K, Pair[V, W]]) bool) bool {
		return yield(Pair[K, Pair[V, W]]{k, Pair[V, W]{v, w}})
	}
	return coGroupOrJoin(a, b, "Join", part, func(k K, vs []V, ws []W, yield func(Pair[K, Pair[V, W]]) bool) bool {
		for _, v := range vs {
			for _, w := range ws {
				if !match(k, v, w, yield) {
					return false
				}
			}
		}
		return true
	}, match)
}

// LeftOuterJoin is Join, plus every pair of a whose key is not in b, paired
// with an invalid Optional.
func LeftOuterJoin[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], numPartitions int) *RDD[Pair[K, Pair[V, Optional[W]]]] {
	return coGroup(a, b, "LeftOuterJoin", numPartitions, func(k K, vs []V, ws []W, yield func(Pair[K, Pair[V, Optional[W]]]) bool) bool {
		for _, v := range vs {
			for _, w := range optionals(ws) {
				if !yield(Pair[K, Pair[V, Optional[W]]]{k, Pair[V, Optional[W]]{v, w}}) {
					return false
				}
			}
		}
		return true
	})
}

// RightOuterJoin is Join, plus every pair of b whose key is not in a, paired
// with an invalid Optional.
func RightOuterJoin[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], numPartitions int) *RDD[Pair[K, Pair[Optional[V], W]]] {
	return coGroup(a, b, "RightOuterJoin", numPartitions, func(k K, vs []V, ws []W, yield func(Pair[K, Pair[Optional[V], W]]) bool) bool {
		for _, v := range optionals(vs) {
			for _, w := range ws {
				if !yield(Pair[K, Pair[Optional[V], W]]{k, Pair[Optional[V], W]{v, w}}) {
					return false
				}
			}
		}
		return true
	})
}

// FullOuterJoin is Join, plus the pairs of either side whose key is not in
// the other, paired with an invalid Optional.
func FullOuterJoin[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], numPartitions int) *RDD[Pair[K, Pair[Optional[V], Optional[W]]]] {
	return coGroup(a, b, "FullOuterJoin", numPartitions, func(k K, vs []V, ws []W, yield func(Pair[K, Pair[Optional[V], Optional[W]]]) bool) bool {
		for _, v := range optionals(vs) {
			for _, w := range optionals(ws) {
				if !yield(Pair[K, Pair[Optional[V], Optional[W]]]{k, Pair[Optional[V], Optional[W]]{v, w}}) {
					return false
				}
			}
		}
		return true
	})
}

// optionals wraps values as valid Optionals, or gives one invalid Optional
// when there are none: the shape of one side of an outer join.
func optionals[T any](xs []T) []Optional[T] {
	if len(xs) == 0 {
		return []Optional[T]{{}}
	}
	out := make([]Optional[T], len(xs))
	for i, x := range xs {
		out[i] = Optional[T]{x, true}
	}
	return out
}

// SubtractByKey keeps the pairs of a whose key is not in b. It has
// numPartitions partitions, or a's count if numPartitions <= 0 (as in
// Spark).
func SubtractByKey[K comparable, V, W any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], numPartitions int) *RDD[Pair[K, V]] {
	return coGroup(a, b, "SubtractByKey", leftPartitions(a, numPartitions), func(k K, vs []V, ws []W, yield func(Pair[K, V]) bool) bool {
		if len(ws) > 0 {
			return true
		}
		for _, v := range vs {
			if !yield(Pair[K, V]{k, v}) {
				return false
			}
		}
		return true
	})
}

// Subtract keeps the elements of a that are not in b, as many times as a
// holds them. It has numPartitions partitions, or a's count if
// numPartitions <= 0 (as in Spark).
func Subtract[T comparable](a, b *RDD[T], numPartitions int) *RDD[T] {
	return unkeyed(coGroup(asKeys(a), asKeys(b), "Subtract", leftPartitions(a, numPartitions), func(x T, as []bool, bs []bool, yield func(T) bool) bool {
		if len(bs) > 0 {
			return true
		}
		for range as {
			if !yield(x) {
				return false
			}
		}
		return true
	}))
}

// Intersection returns each element that is in both a and b, once.
func Intersection[T comparable](a, b *RDD[T], numPartitions int) *RDD[T] {
	return unkeyed(coGroup(asKeys(a), asKeys(b), "Intersection", numPartitions, func(x T, as []bool, bs []bool, yield func(T) bool) bool {
		return len(as) == 0 || len(bs) == 0 || yield(x)
	}))
}

// unkeyed forgets the partitioner of r, whose elements are not pairs of
// the keys it was partitioned by.
func unkeyed[T any](r *RDD[T]) *RDD[T] {
	r.partitioner = nil
	return r
}

func asKeys[T comparable](r *RDD[T]) *RDD[Pair[T, bool]] {
	return Map(r, func(x T) Pair[T, bool] { return Pair[T, bool]{x, true} })
}

// leftPartitions is the partition count of a subtraction from a: n, or
// a's count if n <= 0.
func leftPartitions[T any](a *RDD[T], n int) int {
	if n > 0 || a == nil {
		return n
	}
	return max(a.nparts, 1)
}

// coGroup shuffles a and b by key into the same partitions, gathers each
// key's values from both sides, and lets emit turn them into output: the
// engine of CoGroup, the joins and the set operations.
func coGroup[K comparable, V, W, O any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], op string, numPartitions int,
	emit func(k K, vs []V, ws []W, yield func(O) bool) bool) *RDD[O] {
	return coGroupOrJoin(a, b, op, defaultPartitioner[K](numPartitions, &a.node, &b.node), emit, nil)
}

// coGroupOrJoin is coGroup into the partitions of part; with match, an
// inner join, which builds a hash table of a partition of a when the
// task's share of memory holds it and streams b's past it, calling match
// for every pair of values of a key, and cogroups as coGroup does
// otherwise. A side that already has part is read where it is; the other
// is shuffled. The result has part as its partitioner: an operation whose
// output is not keyed by K (Subtract, Intersection) clears it.
func coGroupOrJoin[K comparable, V, W, O any](a *RDD[Pair[K, V]], b *RDD[Pair[K, W]], op string, part Partitioner[K],
	emit func(k K, vs []V, ws []W, yield func(O) bool) bool, match func(k K, v V, w W, yield func(O) bool) bool) *RDD[O] {
	errPart := partitionerErr(part)
	if errPart != nil {
		return newRDD[O](a.s, op, max(a.nparts, 1), oneToOne(a, b), nil, errPart)
	}
	inA, errA := byKey(a, part)
	inB, errB := byKey(b, part)
	deps := append(inA.deps(), inB.deps()...)
	out := newRDD[O](a.s, op, part.NumPartitions(), deps, nil, errA, errB)
	out.partitioner = part
	out.compute = func(tc *task.Context, p int) stream[O] {
		return func(yield func([]O) bool) error {
			g := &coGroups[K, V, W]{tc: tc, node: &out.node, bs: out.batchSize()}
			defer g.close()
			if match != nil {
				table, err := g.build(inA, p)
				if table != nil {
					defer table.release()
				}
				if err != nil {
					return err
				}
				if table != nil {
					return probe(tc, out, table, inB, p, match, yield)
				}
			} else if err := g.gatherA(inA, p); err != nil {
				return err
			}
			if err := g.gatherB(inB, p); err != nil {
				return err
			}
			var emitted error
			results := func(yield func(O) bool) {
				emitted = combined(&out.node, g.byKey, func(g Pair[[]V, []W]) int { return len(g.Key) + len(g.Value) },
					func(k K, g Pair[[]V, []W]) bool { return emit(k, g.Key, g.Value, yield) })
			}
			return cmp.Or(out.batches(tc, results, yield), emitted)
		}
	}
	return out
}

// coGroups gathers a reduce partition of both sides of a cogroup by key,
// spilling as the groups outgrow the task's share of memory.
type coGroups[K comparable, V, W any] struct {
	tc    *task.Context
	node  *node
	bs    int
	byKey *spill.Map[K, Pair[[]V, []W]] // nil until opened
	sizeV *spill.Sizer[V]               // of the left side's values, added a batch at a time
}

func (g *coGroups[K, V, W]) open() error {
	if g.byKey != nil {
		return nil
	}
	var err error
	g.byKey, err = newCombiner[K](g.tc, g.node, func(a, b Pair[[]V, []W]) Pair[[]V, []W] {
		return Pair[[]V, []W]{append(a.Key, b.Key...), append(a.Value, b.Value...)}
	})
	g.sizeV = spill.NewSizer[V]()
	return err
}

func (g *coGroups[K, V, W]) close() {
	if g.byKey != nil {
		g.byKey.Close()
	}
}

// gatherA reads reduce partition p of the left side into the groups.
func (g *coGroups[K, V, W]) gatherA(dep keyedInput[Pair[K, V]], p int) error {
	if err := g.open(); err != nil {
		return err
	}
	return gatherSide(g.tc, g.byKey, dep, p, g.bs, addLeft[V, W])
}

// gatherB reads reduce partition p of the right side into the groups.
func (g *coGroups[K, V, W]) gatherB(dep keyedInput[Pair[K, W]], p int) error {
	if err := g.open(); err != nil {
		return err
	}
	return gatherSide(g.tc, g.byKey, dep, p, g.bs, func(grp *Pair[[]V, []W], w W) { grp.Value = append(grp.Value, w) })
}

func (g *coGroups[K, V, W]) addA(b []Pair[K, V]) error {
	return gather(g.byKey, g.sizeV, b, addLeft[V, W])
}

func addLeft[V, W any](grp *Pair[[]V, []W], v V) { grp.Key = append(grp.Key, v) }

// build reads reduce partition p of a join's left side into a hash table
// and returns it; or, if the table outgrows the task's share of memory,
// moves it into the groups, gathers the rest there and returns nil.
func (g *coGroups[K, V, W]) build(dep keyedInput[Pair[K, V]], p int) (*joinTable[K, V], error) {
	rows, _ := dep.rows(g.tc, p)
	table := newJoinTable[K, V](g.tc, rows)
	if table == nil {
		return nil, g.gatherA(dep, p)
	}
	var full error
	err := dep.read(g.tc, p, g.bs, func(b []Pair[K, V]) bool {
		if table != nil && table.add(b) {
			return true
		}
		if table != nil {
			if full = g.moveIn(table); full != nil {
				return false
			}
			table = nil
		}
		full = g.addA(b)
		return full == nil
	})
	if err = cmp.Or(err, full); err != nil && table != nil {
		table.release()
		table = nil
	}
	return table, err
}

// moveIn moves a join table's pairs into the groups.
func (g *coGroups[K, V, W]) moveIn(table *joinTable[K, V]) error {
	if err := g.open(); err != nil {
		return err
	}
	batch := make([]Pair[K, V], 0, g.bs)
	var err error
	table.drain(func(k K, v V) {
		if batch = append(batch, Pair[K, V]{k, v}); len(batch) == cap(batch) && err == nil {
			err, batch = g.addA(batch), batch[:0]
		}
	})
	if err == nil && len(batch) > 0 {
		err = g.addA(batch)
	}
	return err
}

// probe streams reduce partition p of a join's right side past the
// table of its left side, yielding what match makes of each pair of
// values of a key.
func probe[K comparable, V, W, O any](tc *task.Context, out *RDD[O], table *joinTable[K, V], dep keyedInput[Pair[K, W]], p int,
	match func(k K, v V, w W, yield func(O) bool) bool, yield func([]O) bool) error {
	var err error
	results := func(yield func(O) bool) {
		err = dep.read(tc, p, out.batchSize(), func(b []Pair[K, W]) bool {
			for _, kw := range b {
				for i := table.last(kw.Key); i >= 0; i = table.rows[i].prev {
					if !match(kw.Key, table.rows[i].v, kw.Value, yield) {
						return false
					}
				}
			}
			return true
		})
	}
	return cmp.Or(out.batches(tc, results, yield), err)
}

// gatherSide reads reduce partition p of one side of a cogroup into the
// groups of byKey, with add, spilling as they outgrow the task's share of
// memory.
func gatherSide[K comparable, V, G any](tc *task.Context, byKey *spill.Map[K, G], dep keyedInput[Pair[K, V]], p, bs int, add func(*G, V)) error {
	values := spill.NewSizer[V]()
	var full error
	err := dep.read(tc, p, bs, func(b []Pair[K, V]) bool {
		full = gather(byKey, values, b, add)
		return full == nil
	})
	return cmp.Or(err, full)
}

// gather adds a batch of one side of a cogroup to the groups of byKey,
// with add, spilling them if they outgrow the task's share of memory.
func gather[K comparable, V, G any](byKey *spill.Map[K, G], values *spill.Sizer[V], b []Pair[K, V], add func(*G, V)) error {
	var grew int64
	vals := byKey.Vals()
	for _, kv := range b {
		i, added := byKey.Slot(kv.Key)
		if added {
			vals = byKey.Vals()
			var zero G
			grew += byKey.EntryBytes(kv.Key, zero)
		}
		add(&vals[i], kv.Value)
		grew += values.Of(kv.Value)
	}
	return byKey.Account(grew)
}

// CountByValue counts the occurrences of each distinct element.
func CountByValue[T comparable](ctx context.Context, r *RDD[T]) (map[T]int64, error) {
	return countBy(ctx, r, "CountByValue", func(x T) T { return x })
}

// Lookup returns the values of key in r, in partition order. If r knows
// its partitioner, only the partition that holds key is read, as Spark's
// lookup does; otherwise every partition is.
func Lookup[K comparable, V any](ctx context.Context, r *RDD[Pair[K, V]], key K) ([]V, error) {
	var parts []int
	if p := PartitionerOf(r); p != nil {
		i := p.Partition(key)
		if i < 0 || i >= r.nparts {
			return nil, actionError("Lookup", r, fmt.Errorf("partitioner %v put key %v in partition %d, want one in [0, %d)", p, key, i, r.nparts))
		}
		parts = []int{i}
	}
	found := make([][]V, max(len(parts), r.nparts))
	err := runJob(ctx, r, "Lookup", parts, func(tc *task.Context, _ int, in stream[Pair[K, V]]) ([]V, error) {
		var vs []V
		err := in(func(b []Pair[K, V]) bool {
			for _, kv := range b {
				if kv.Key == key {
					vs = append(vs, kv.Value)
				}
			}
			return true
		})
		return vs, err
	}, func(i int, vs []V) error { found[i] = vs; return nil })
	if err != nil {
		return nil, err
	}
	return slices.Concat(found...), nil
}

// CollectAsMap returns the pairs as a map; of several pairs with the same
// key, the last in partition order wins.
func CollectAsMap[K comparable, V any](ctx context.Context, r *RDD[Pair[K, V]]) (map[K]V, error) {
	pairs, err := r.Collect(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[K]V, len(pairs))
	for _, kv := range pairs {
		m[kv.Key] = kv.Value
	}
	return m, nil
}
