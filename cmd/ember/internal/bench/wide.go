package bench

import (
	"context"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/ember-go/ember/rdd"
)

// Default sizes of the wide workloads, as docs/benchmarks.md uses them.
const (
	DefaultSortElements = 50_000_000
	DefaultJoinKeys     = 20_000_000
	DefaultReduceKeys   = 20_000_000
)

// parallelSort is the hand-written baseline of a sort: each CPU sorts its
// share of a copy, then the shares are merged.
func parallelSort(data []int64) []int64 {
	parts := runtime.GOMAXPROCS(0)
	c := slices.Clone(data)
	runs := make([][]int64, parts)
	var wg sync.WaitGroup
	for p := range parts {
		runs[p] = c[p*len(c)/parts : (p+1)*len(c)/parts]
		wg.Add(1)
		go func() {
			defer wg.Done()
			slices.Sort(runs[p])
		}()
	}
	wg.Wait()
	out := make([]int64, 0, len(c))
	heads := make([]int, parts)
	for len(out) < len(c) {
		best := -1
		for p, r := range runs {
			if heads[p] < len(r) && (best < 0 || r[heads[p]] < runs[best][heads[best]]) {
				best = p
			}
		}
		out = append(out, runs[best][heads[best]])
		heads[best]++
	}
	return out
}

// randomInts returns n random int64s, the same for the same seed.
func randomInts(n int64, seed uint64) []int64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	data := make([]int64, n)
	for i := range data {
		data[i] = rng.Int64()
	}
	return data
}

// SortOutOfCore sorts n random int64s on a session whose memory budget is
// a quarter of their size, so that the sort spills, against the same sort
// on a session that holds them in memory (the baseline here is the engine
// itself, in memory).
func SortOutOfCore(ctx context.Context, n int64) (*Workload, error) {
	data := randomInts(n, 3)
	budget := max(n*8/4, 8<<20)
	small, err := rdd.NewSession(rdd.WithMaster("local[2]"), rdd.WithConf("memory.limit", strconv.FormatInt(budget, 10)), rdd.WithConf("ui.port", "-1"))
	if err != nil {
		return nil, err
	}
	large, err := rdd.NewSession(rdd.WithMaster("local[2]"), rdd.WithConf("ui.port", "-1"))
	if err != nil {
		small.Close()
		return nil, err
	}
	sorted := func(ctx context.Context, s *rdd.Session) (any, error) {
		r := rdd.SortBy(rdd.Parallelize(s, data, 2), func(x int64) int64 { return x }, true, 2)
		return rdd.Sum(ctx, rdd.MapPartitions(r, inOrder))
	}
	return &Workload{
		Name:   "sort-outofcore",
		Target: 3,
		Engine: func(ctx context.Context) (any, error) { return sorted(ctx, small) },
		Baseline: func() any {
			v, err := sorted(context.Background(), large)
			if err != nil {
				return err
			}
			return v
		},
		Close: func() { small.Close(); large.Close() },
		Bytes: n * 8,
	}, nil
}

// inOrder counts a partition's elements, or -1<<40 if they are out of
// order, so that a sum over the partitions says whether the sort held.
func inOrder(_ int, in iter.Seq[int64]) iter.Seq[int64] {
	return func(yield func(int64) bool) {
		var n int64
		first, last := true, int64(0)
		for x := range in {
			if !first && x < last {
				n = -1 << 40
			}
			first, last = false, x
			n++
		}
		yield(n)
	}
}

// Join joins n pairs with n others on unique int64 keys and sums the
// values of the matches, against a hand-written partitioned hash join.
func Join(ctx context.Context, s *rdd.Session, n int64) (*Workload, error) {
	left, right := make([]rdd.Pair[int64, int64], n), make([]rdd.Pair[int64, int64], n)
	rng := rand.New(rand.NewPCG(4, 5))
	for i := range n {
		left[i] = rdd.Pair[int64, int64]{Key: i, Value: rng.Int64N(1000)}
		right[i] = rdd.Pair[int64, int64]{Key: (i * 7_919) % n, Value: rng.Int64N(1000)}
	}
	a, b := rdd.Parallelize(s, left, 0).Cache(), rdd.Parallelize(s, right, 0).Cache()
	if err := fill(ctx, a, b); err != nil {
		return nil, err
	}
	return &Workload{
		Name:   "join",
		Target: 2,
		Engine: func(ctx context.Context) (any, error) {
			joined := rdd.Join(a, b, 0)
			return rdd.Sum(ctx, rdd.Map(joined, func(kv rdd.Pair[int64, rdd.Pair[int64, int64]]) int64 { return kv.Value.Key * kv.Value.Value }))
		},
		Baseline: func() any { return partitionedJoin(left, right) },
		Close:    func() { a.Unpersist(); b.Unpersist() },
	}, nil
}

// partitionedJoin is the hand-written baseline of a join: each CPU hashes
// its share of both sides into partitions, then joins its partitions with
// a hash map.
func partitionedJoin(left, right []rdd.Pair[int64, int64]) int64 {
	parts := runtime.GOMAXPROCS(0)
	l, r := partitioned(left, parts), partitioned(right, parts)
	sums := make([]int64, parts)
	parallel(parts, func(p int) {
		index := make(map[int64]int64, countOf(l, p))
		for _, share := range l {
			for _, kv := range share[p] {
				index[kv.Key] = kv.Value
			}
		}
		for _, share := range r {
			for _, kv := range share[p] {
				if v, ok := index[kv.Key]; ok {
					sums[p] += v * kv.Value
				}
			}
		}
	})
	var total int64
	for _, s := range sums {
		total += s
	}
	return total
}

// ReduceByKey sums n pairs over keys distinct keys, against a hand-written
// partitioned map.
func ReduceByKey(ctx context.Context, s *rdd.Session, n, keys int64) (*Workload, error) {
	pairs := make([]rdd.Pair[int64, int64], n)
	rng := rand.New(rand.NewPCG(6, 7))
	for i := range n {
		pairs[i] = rdd.Pair[int64, int64]{Key: (i * 7_919) % keys, Value: rng.Int64N(1000)}
	}
	r := rdd.Parallelize(s, pairs, 0).Cache()
	if err := fill(ctx, r); err != nil {
		return nil, err
	}
	return &Workload{
		Name:   "reducebykey",
		Target: 1.5,
		Engine: func(ctx context.Context) (any, error) {
			sums := rdd.ReduceByKey(r, func(a, b int64) int64 { return a + b }, 0)
			return rdd.Sum(ctx, rdd.Map(sums, func(kv rdd.Pair[int64, int64]) int64 { return kv.Key ^ kv.Value }))
		},
		Baseline: func() any { return partitionedReduce(pairs) },
		Close:    r.Unpersist,
	}, nil
}

// partitionedReduce is the hand-written baseline of ReduceByKey: each CPU
// hashes its share into partitions, then sums its partition in a map.
func partitionedReduce(pairs []rdd.Pair[int64, int64]) int64 {
	parts := runtime.GOMAXPROCS(0)
	shares := partitioned(pairs, parts)
	sums := make([]int64, parts)
	parallel(parts, func(p int) {
		m := make(map[int64]int64, countOf(shares, p))
		for _, share := range shares {
			for _, kv := range share[p] {
				m[kv.Key] += kv.Value
			}
		}
		for k, v := range m {
			sums[p] += k ^ v
		}
	})
	var total int64
	for _, s := range sums {
		total += s
	}
	return total
}

// partitioned splits pairs into one share per CPU, each cut into parts
// partitions by key.
func partitioned(pairs []rdd.Pair[int64, int64], parts int) [][][]rdd.Pair[int64, int64] {
	shares := make([][][]rdd.Pair[int64, int64], parts)
	parallel(parts, func(p int) {
		out := make([][]rdd.Pair[int64, int64], parts)
		for _, kv := range pairs[p*len(pairs)/parts : (p+1)*len(pairs)/parts] {
			h := int(uint64(kv.Key) * 0x9E3779B97F4A7C15 >> 32 % uint64(parts))
			out[h] = append(out[h], kv)
		}
		shares[p] = out
	})
	return shares
}

func countOf(shares [][][]rdd.Pair[int64, int64], p int) int {
	n := 0
	for _, s := range shares {
		n += len(s[p])
	}
	return n
}

// parallel runs f(0) … f(n-1) at once and waits for them.
func parallel(n int, f func(int)) {
	var wg sync.WaitGroup
	for p := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(p)
		}()
	}
	wg.Wait()
}
