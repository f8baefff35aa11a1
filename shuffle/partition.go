package shuffle

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
)

// Hash assigns a key to the partition given by its hash modulo the number
// of partitions. It is safe for concurrent use provided the hash function is.
type Hash[K any] struct {
	n    uint64
	hash func(K) uint64
}

// NewHash returns a hash partitioner over numPartitions partitions. The hash
// function must be deterministic across processes, since map tasks running
// on different machines must agree on where a key goes.
func NewHash[K any](numPartitions int, hash func(K) uint64) (*Hash[K], error) {
	if numPartitions < 1 {
		return nil, fmt.Errorf("shuffle: hash partitioner needs at least one partition, got %d", numPartitions)
	}
	if hash == nil {
		return nil, errors.New("shuffle: hash partitioner needs a hash function")
	}
	return &Hash[K]{n: uint64(numPartitions), hash: hash}, nil
}

// NumPartitions returns the number of partitions.
func (h *Hash[K]) NumPartitions() int { return int(h.n) }

// Partition returns the partition of k, in [0, NumPartitions()).
func (h *Hash[K]) Partition(k K) int {
	// Unsigned modulo cannot go negative, unlike Java's hashCode % n,
	// so no correction is needed.
	return int(h.hash(k) % h.n)
}

// Range assigns ordered keys to contiguous ranges, so that concatenating the
// partitions in id order yields the keys in sorted order. Bounds are chosen
// from a sample of the keys, as Spark's RangePartitioner does. Ordering
// follows cmp.Compare: a floating-point NaN sorts before every other value.
// A Range is immutable and safe for concurrent use.
type Range[K cmp.Ordered] struct {
	n         int
	bounds    []K // strictly increasing upper bounds (inclusive) of partitions 0..len(bounds)-1
	ascending bool
}

// NewRange returns a range partitioner over numPartitions partitions whose
// numPartitions-1 bounds are the plain quantiles of sample; sample itself is
// not modified. Duplicate quantiles collapse into one bound, so a skewed
// sample yields fewer non-empty partitions: the trailing ones in ascending
// order, the leading ones in descending order. An empty sample puts every
// key in one partition.
func NewRange[K cmp.Ordered](numPartitions int, sample []K, ascending bool) (*Range[K], error) {
	if numPartitions < 1 {
		return nil, fmt.Errorf("shuffle: range partitioner needs at least one partition, got %d", numPartitions)
	}
	r := &Range[K]{n: numPartitions, ascending: ascending}
	if len(sample) == 0 || numPartitions == 1 {
		return r, nil
	}
	sorted := slices.Clone(sample)
	slices.Sort(sorted)
	r.bounds = make([]K, 0, numPartitions-1)
	for i := 1; i < numPartitions; i++ {
		// Partition i-1 ends at the first sample whose rank reaches
		// i/numPartitions of the sample: ceil(i*len/n)-1, computed so that
		// it cannot overflow for any sample that fits in memory.
		idx := int((int64(i)*int64(len(sorted))+int64(numPartitions)-1)/int64(numPartitions)) - 1
		b := sorted[idx]
		if len(r.bounds) > 0 && cmp.Compare(b, r.bounds[len(r.bounds)-1]) <= 0 {
			continue
		}
		r.bounds = append(r.bounds, b)
	}
	return r, nil
}

// NumPartitions returns the number of partitions asked for, including those
// left empty because the sample had too few distinct keys.
func (r *Range[K]) NumPartitions() int { return r.n }

// Partition returns the partition of k. In ascending order partition p holds
// the keys in (Bounds()[p-1], Bounds()[p]]; descending order reverses the ids.
func (r *Range[K]) Partition(k K) int {
	p, _ := slices.BinarySearch(r.bounds, k)
	if !r.ascending {
		return len(r.bounds) - p
	}
	return p
}

// Bounds returns a copy of the upper bounds of the ranges in increasing order.
func (r *Range[K]) Bounds() []K { return slices.Clone(r.bounds) }

// Reservoir returns a uniform random sample of at most n items of seq,
// together with the number of items seq yielded. The sample is a function of
// seq and seed alone, so a retried task draws the same sample. It uses
// Vitter's Algorithm L, which draws randomness only when an item enters the
// sample rather than once per item.
func Reservoir[T any](seq iter.Seq[T], n int, seed uint64) (sample []T, total int64) {
	if n <= 0 {
		for range seq {
			total++
		}
		return nil, total
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var (
		w    float64 // largest of the n smallest uniform keys seen so far
		next int64   // 1-based position of the next item to enter the sample
	)
	for v := range seq {
		total++
		if len(sample) < n {
			sample = append(sample, v)
			if len(sample) == n {
				w = math.Exp(math.Log(openUnit(rng)) / float64(n))
				next = total + skip(rng, w)
			}
			continue
		}
		if total == next {
			sample[rng.IntN(n)] = v
			w *= math.Exp(math.Log(openUnit(rng)) / float64(n))
			next = total + skip(rng, w)
		}
	}
	return sample, total
}

// skip returns how far ahead the next sampled item lies: one plus a
// geometrically distributed number of items to pass over.
func skip(rng *rand.Rand, w float64) int64 {
	s := math.Floor(math.Log(openUnit(rng))/math.Log1p(-w)) + 1
	if !(s < math.MaxInt64/2) { // also catches NaN
		return math.MaxInt64 / 2
	}
	return int64(s)
}

// openUnit returns a uniform value in the open interval (0, 1), so that its
// logarithm is finite.
func openUnit(rng *rand.Rand) float64 {
	for {
		if u := rng.Float64(); u > 0 {
			return u
		}
	}
}
