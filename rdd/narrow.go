package rdd

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"

	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/task"
)

// Pair is a key and a value: the element of key-value RDDs.
type Pair[K, V any] struct {
	Key   K
	Value V
}

// Map applies f to every element.
func Map[T, U any](r *RDD[T], f func(T) U) *RDD[U] {
	out := newRDD[U](r.s, "Map", r.nparts, oneToOne(r), nil, nilFunc("map function", f == nil))
	out.compute = func(tc *task.Context, p int) stream[U] {
		in := r.iterator(tc, p)
		return func(yield func([]U) bool) error {
			buf := make([]U, out.batchSize())
			return in(func(b []T) bool {
				for len(b) > 0 {
					n := min(len(b), len(buf))
					mapBatch(&out.node, f, b[:n], buf[:n])
					if !yield(buf[:n]) {
						return false
					}
					b = b[n:]
				}
				return true
			})
		}
	}
	out.reduce = func(tc *task.Context, p int, g func(U, U) U) (acc U, ok bool, err error) {
		err = r.iterator(tc, p)(func(b []T) bool {
			acc, ok = mapReduceBatch(&out.node, f, g, acc, ok, b)
			return true
		})
		return acc, ok, err
	}
	return out
}

// mapReduceBatch folds g over f of every element of in.
func mapReduceBatch[T, U any](n *node, f func(T) U, g func(U, U) U, acc U, ok bool, in []T) (U, bool) {
	defer n.guard()
	return foldLanes(f, g, acc, ok, in)
}

func mapBatch[T, U any](n *node, f func(T) U, in []T, dst []U) {
	defer n.guard()
	dst = dst[:len(in)]
	for i, x := range in {
		dst[i] = f(x)
	}
}

// MapBatches applies f to whole batches of elements and returns what f
// returns for them: the vectorized form of Map, one call per batch, not per
// element. A batch is a non-empty slice of consecutive elements of a
// partition, of no fixed length: up to Config.BatchSize elements coming out
// of other operators, up to a whole Arrow record (a zero-copy view of its
// column) for a persisted RDD of a primitive type. in is read-only: it may
// be the memory of a cached partition or of the slice given to Parallelize.
// f may return the same slice each time, and must not keep in after
// returning.
func MapBatches[T, U any](r *RDD[T], f func(in []T) []U) *RDD[U] {
	out := newRDD[U](r.s, "MapBatches", r.nparts, oneToOne(r), nil, nilFunc("batch function", f == nil))
	out.compute = func(tc *task.Context, p int) stream[U] {
		in := r.iterator(tc, p)
		return func(yield func([]U) bool) error {
			return in(func(b []T) bool { return yield(callBatch(&out.node, f, b)) })
		}
	}
	return out
}

func callBatch[T, U any](n *node, f func([]T) U, b []T) U {
	defer n.guard()
	return f(b)
}

// FlatMap applies f to every element and flattens the slices it returns.
func FlatMap[T, U any](r *RDD[T], f func(T) []U) *RDD[U] {
	out := newRDD[U](r.s, "FlatMap", r.nparts, oneToOne(r), nil, nilFunc("flatMap function", f == nil))
	out.compute = func(tc *task.Context, p int) stream[U] {
		in := r.iterator(tc, p)
		return func(yield func([]U) bool) error {
			bs := out.batchSize()
			buf := make([]U, 0, bs)
			stopped := false
			err := in(func(b []T) bool {
				buf = flatMapBatch(&out.node, f, b, buf)
				if len(buf) >= bs {
					if !yield(buf) {
						stopped = true
						return false
					}
					buf = buf[:0]
				}
				return true
			})
			if err == nil && !stopped && len(buf) > 0 {
				yield(buf)
			}
			return err
		}
	}
	return out
}

func flatMapBatch[T, U any](n *node, f func(T) []U, in []T, buf []U) []U {
	defer n.guard()
	for _, x := range in {
		buf = append(buf, f(x)...)
	}
	return buf
}

// MapPartitions applies f to each whole partition: f receives the partition
// index and its elements, and returns the partition's new elements.
func MapPartitions[T, U any](r *RDD[T], f func(partition int, in iter.Seq[T]) iter.Seq[U]) *RDD[U] {
	out := newRDD[U](r.s, "MapPartitions", r.nparts, oneToOne(r), nil, nilFunc("partition function", f == nil))
	out.compute = func(tc *task.Context, p int) stream[U] {
		in := r.iterator(tc, p)
		return func(yield func([]U) bool) error {
			var inErr error
			elems := func(yield func(T) bool) {
				inErr = in(func(b []T) bool {
					for _, x := range b {
						if !yield(x) {
							return false
						}
					}
					return true
				})
			}
			var seq iter.Seq[U]
			func() {
				defer out.guard()
				seq = f(p, elems)
			}()
			if err := out.batches(tc, seq, yield); err != nil {
				return err
			}
			return inErr
		}
	}
	return out
}

// Filter keeps the elements for which f returns true. It keeps r's
// partitioner.
func (r *RDD[T]) Filter(f func(T) bool) *RDD[T] {
	out := newRDD[T](r.s, "Filter", r.nparts, oneToOne(r), nil, nilFunc("filter function", f == nil))
	out.partitioner = r.partitioner
	out.compute = func(tc *task.Context, p int) stream[T] {
		in := r.iterator(tc, p)
		return func(yield func([]T) bool) error {
			buf := make([]T, 0, out.batchSize())
			return in(func(b []T) bool {
				buf = filterBatch(&out.node, f, b, buf[:0])
				return len(buf) == 0 || yield(buf)
			})
		}
	}
	return out
}

func filterBatch[T any](n *node, f func(T) bool, in, buf []T) []T {
	defer n.guard()
	for _, x := range in {
		if f(x) {
			buf = append(buf, x)
		}
	}
	return buf
}

// KeyBy pairs every element with the key f computes from it.
func KeyBy[K comparable, T any](r *RDD[T], f func(T) K) *RDD[Pair[K, T]] {
	if f == nil {
		return withOp(Map[T, Pair[K, T]](r, nil), "KeyBy")
	}
	return withOp(Map(r, func(x T) Pair[K, T] { return Pair[K, T]{f(x), x} }), "KeyBy")
}

// MapValues applies f to the value of every pair, keeping its key, and
// keeps r's partitioner.
func MapValues[K comparable, V, W any](r *RDD[Pair[K, V]], f func(V) W) *RDD[Pair[K, W]] {
	if f == nil {
		return withOp(Map[Pair[K, V], Pair[K, W]](r, nil), "MapValues")
	}
	return keepPartitioner(r, withOp(Map(r, func(kv Pair[K, V]) Pair[K, W] { return Pair[K, W]{kv.Key, f(kv.Value)} }), "MapValues"))
}

// keepPartitioner gives out, whose pairs have the keys of r's in the same
// partitions, r's partitioner.
func keepPartitioner[K comparable, V, W any](r *RDD[Pair[K, V]], out *RDD[Pair[K, W]]) *RDD[Pair[K, W]] {
	out.partitioner = r.partitioner
	return out
}

// withOp renames the operation of an RDD built through another one, keeping
// the user's creation site.
func withOp[T any](r *RDD[T], op string) *RDD[T] {
	r.op = op
	if be, ok := r.err.(*BuildError); ok {
		be.RDD = r.String()
	}
	return r
}

// Zip pairs the i-th element of a with the i-th element of b. Both must have
// the same number of partitions and the same number of elements in each.
func Zip[T, U any](a *RDD[T], b *RDD[U]) *RDD[Pair[T, U]] {
	return zipWith(a, b, "Zip", func(n *node, buf []Pair[T, U], x []T, y []U) []Pair[T, U] {
		buf, y = buf[:len(x)], y[:len(x)] // lets the compiler drop bounds checks
		for i := range x {
			buf[i] = Pair[T, U]{x[i], y[i]}
		}
		return buf
	})
}

// ZipBatches applies f to aligned batches of a and b: x[i] and y[i] are
// elements at the same position. For persisted RDDs of primitive types both
// are zero-copy views of Arrow columns, so x and y are read-only. f may
// return the same slice each time and must not keep x or y. Requirements
// are those of Zip.
func ZipBatches[T, U, V any](a *RDD[T], b *RDD[U], f func(x []T, y []U) []V) *RDD[V] {
	var nilErr error
	if f == nil {
		nilErr = nilFunc("zip function", true)
	}
	return zipWith(a, b, "ZipBatches", func(n *node, _ []V, x []T, y []U) []V {
		defer n.guard()
		return f(x, y)
	}, nilErr)
}

// zipWith is the engine of Zip and ZipBatches: it walks both parents in
// lockstep, pulling batches of b while a pushes its own.
func zipWith[T, U, V any](a *RDD[T], b *RDD[U], op string, f func(n *node, buf []V, x []T, y []U) []V, errs ...error) *RDD[V] {
	if a.nparts != b.nparts {
		errs = append(errs, fmt.Errorf("cannot zip RDDs with different numbers of partitions: %s has %d, %s has %d",
			a, a.nparts, b, b.nparts))
	}
	out := newRDD[V](a.s, op, a.nparts, oneToOne(a, b), nil, errs...)
	out.compute = func(tc *task.Context, p int) stream[V] {
		as, bs := a.iterator(tc, p), b.iterator(tc, p)
		return func(yield func([]V) bool) error {
			var bErr error
			next, stop := iter.Pull(func(yield func([]U) bool) { bErr = bs(yield) })
			defer stop()
			buf := make([]V, out.batchSize())
			var y []U
			var na, nb int // elements seen on each side
			stopped, short := false, false
			aErr := as(func(x []T) bool {
				na += len(x)
				for len(x) > 0 {
					for len(y) == 0 {
						var ok bool
						if y, ok = next(); !ok {
							short = true
							return false
						}
						nb += len(y)
					}
					k := min(len(x), len(y), len(buf))
					if !yield(f(&out.node, buf, x[:k], y[:k])) {
						stopped = true
						return false
					}
					x, y = x[k:], y[k:]
				}
				return true
			})
			if aErr != nil || stopped {
				return aErr
			}
			if !short {
				for len(y) == 0 {
					var ok bool
					if y, ok = next(); !ok {
						break
					}
					nb += len(y)
				}
				if len(y) > 0 {
					short = true
				}
			}
			stop()
			if bErr != nil {
				return bErr
			}
			if short {
				return task.Permanent(fmt.Errorf("%s: partition %d differs in length: %s has %d+ elements, %s has %d+ (zipped RDDs need the same number of elements in each partition)",
					out, p, a, na, b, nb))
			}
			return nil
		}
	}
	return out
}

// Union returns the elements of r followed by those of others: the
// partitions of all of them, in order.
func (r *RDD[T]) Union(others ...*RDD[T]) *RDD[T] {
	all := append([]*RDD[T]{r}, others...)
	deps := make([]scheduler.Dependency, len(all))
	total := 0
	for i, x := range all {
		deps[i] = scheduler.RangeDependency(x.vertex(), 0, total, x.nparts)
		total += x.nparts
	}
	out := newRDD[T](r.s, "Union", total, deps, nil)
	out.compute = func(tc *task.Context, p int) stream[T] {
		for _, x := range all {
			if p < x.nparts {
				return x.iterator(tc, p)
			}
			p -= x.nparts
		}
		panic("unreachable: partition out of range")
	}
	return out
}

// Sample returns a random sample of the elements: each is kept with
// probability fraction (withReplacement false, fraction in [0, 1]), or
// appears a Poisson(fraction) number of times (withReplacement true,
// fraction >= 0). The same seed gives the same sample.
func (r *RDD[T]) Sample(withReplacement bool, fraction float64, seed int64) *RDD[T] {
	var err error
	switch {
	case math.IsNaN(fraction) || fraction < 0:
		err = fmt.Errorf("sample fraction %v is negative", fraction)
	case !withReplacement && fraction > 1:
		err = fmt.Errorf("sample fraction %v is above 1 (allowed only with replacement)", fraction)
	}
	out := newRDD[T](r.s, "Sample", r.nparts, oneToOne(r), nil, err)
	out.compute = func(tc *task.Context, p int) stream[T] {
		in := r.iterator(tc, p)
		return func(yield func([]T) bool) error {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(p)))
			buf := make([]T, 0, out.batchSize())
			return in(func(b []T) bool {
				buf = buf[:0]
				for _, x := range b {
					n := 0
					if withReplacement {
						n = poisson(rng, fraction)
					} else if rng.Float64() < fraction {
						n = 1
					}
					for range n {
						buf = append(buf, x)
					}
				}
				return len(buf) == 0 || yield(buf)
			})
		}
	}
	return out
}

// poisson draws from a Poisson distribution (Knuth's method, in steps small
// enough that exp(-lambda) stays representable).
func poisson(rng *rand.Rand, lambda float64) int {
	n := 0
	for lambda > 0 {
		step := min(lambda, 30)
		lambda -= step
		l, k, p := math.Exp(-step), 0, 1.0
		for {
			p *= rng.Float64()
			if p <= l {
				break
			}
			k++
		}
		n += k
	}
	return n
}

// Coalesce merges neighbouring partitions, without a shuffle, down to
// numPartitions. It never increases the count; use Repartition for that.
func (r *RDD[T]) Coalesce(numPartitions int) *RDD[T] {
	n := numPartitions
	if n <= 0 || n > r.nparts {
		n = r.nparts
	}
	dep := scheduler.NarrowDependency(r.vertex(), func(p int) []int {
		lo, hi := split(r.nparts, n, p)
		parts := make([]int, 0, hi-lo)
		for q := lo; q < hi; q++ {
			parts = append(parts, q)
		}
		return parts
	})
	out := newRDD[T](r.s, "Coalesce", n, []scheduler.Dependency{dep}, nil)
	out.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error {
			stopped := false
			for _, q := range dep.Parents(p) {
				if stopped {
					break
				}
				err := r.iterator(tc, q)(func(b []T) bool {
					stopped = !yield(b)
					return !stopped
				})
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	return out
}

// Glom turns each partition into one slice holding its elements.
func Glom[T any](r *RDD[T]) *RDD[[]T] {
	out := newRDD[[]T](r.s, "Glom", r.nparts, oneToOne(r), nil)
	out.compute = func(tc *task.Context, p int) stream[[]T] {
		in := r.iterator(tc, p)
		return func(yield func([][]T) bool) error {
			all := []T{}
			if err := in(func(b []T) bool { all = append(all, b...); return true }); err != nil {
				return err
			}
			yield([][]T{all})
			return nil
		}
	}
	return out
}

// Cartesian pairs every element of a with every element of b. Partition
// i*b.NumPartitions()+j pairs partition i of a with partition j of b.
func Cartesian[T, U any](a *RDD[T], b *RDD[U]) *RDD[Pair[T, U]] {
	deps := []scheduler.Dependency{
		scheduler.NarrowDependency(a.vertex(), func(p int) []int { return []int{p / b.nparts} }),
		scheduler.NarrowDependency(b.vertex(), func(p int) []int { return []int{p % b.nparts} }),
	}
	out := newRDD[Pair[T, U]](a.s, "Cartesian", a.nparts*b.nparts, deps, nil)
	out.compute = func(tc *task.Context, p int) stream[Pair[T, U]] {
		return func(yield func([]Pair[T, U]) bool) error {
			var right []U
			err := b.iterator(tc, p%b.nparts)(func(ys []U) bool { right = append(right, ys...); return true })
			if err != nil || len(right) == 0 {
				return err
			}
			var leftErr error
			pairs := func(yield func(Pair[T, U]) bool) {
				leftErr = a.iterator(tc, p/b.nparts)(func(xs []T) bool {
					for _, x := range xs {
						for _, y := range right {
							if !yield(Pair[T, U]{x, y}) {
								return false
							}
						}
					}
					return true
				})
			}
			if err := out.batches(tc, pairs, yield); err != nil {
				return err
			}
			return leftErr
		}
	}
	return out
}

// ZipWithUniqueID pairs every element with a unique int64 id, as Spark's
// zipWithUniqueId: the k-th element of partition p gets k*n+p, where n is
// the number of partitions. The ids are not contiguous, but need no job to
// count the partitions first.
func ZipWithUniqueID[T any](r *RDD[T]) *RDD[Pair[T, int64]] {
	out := newRDD[Pair[T, int64]](r.s, "ZipWithUniqueID", r.nparts, oneToOne(r), nil)
	out.compute = func(tc *task.Context, p int) stream[Pair[T, int64]] {
		in := r.iterator(tc, p)
		return func(yield func([]Pair[T, int64]) bool) error {
			n, id := int64(r.nparts), int64(p)
			buf := make([]Pair[T, int64], 0, out.batchSize())
			return in(func(b []T) bool {
				for len(b) > 0 {
					buf = buf[:0]
					for _, x := range b[:min(len(b), cap(buf))] {
						buf = append(buf, Pair[T, int64]{x, id})
						id += n
					}
					if !yield(buf) {
						return false
					}
					b = b[len(buf):]
				}
				return true
			})
		}
	}
	return out
}
