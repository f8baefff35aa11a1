package shuffle

import (
	"cmp"
	"hash/maphash"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var seed = maphash.MakeSeed()

func hashInt(k int) uint64 { return maphash.Comparable(seed, k) }

func TestHashPartition(t *testing.T) {
	if _, err := NewHash(0, hashInt); err == nil {
		t.Error("NewHash(0) succeeded")
	}
	if _, err := NewHash[int](3, nil); err == nil {
		t.Error("NewHash with nil hash succeeded")
	}
	for _, n := range []int{1, 2, 7, 64} {
		h, err := NewHash(n, hashInt)
		if err != nil {
			t.Fatal(err)
		}
		if h.NumPartitions() != n {
			t.Fatalf("NumPartitions = %d, want %d", h.NumPartitions(), n)
		}
		const keys = 100_000
		counts := make([]int, n)
		for k := range keys {
			p := h.Partition(k)
			if p < 0 || p >= n {
				t.Fatalf("n=%d: Partition(%d) = %d out of range", n, k, p)
			}
			if q := h.Partition(k); q != p {
				t.Fatalf("n=%d: Partition(%d) not deterministic: %d then %d", n, k, p, q)
			}
			counts[p]++
		}
		// Each bucket is binomial with mean keys/n; 10% is many standard
		// deviations away for these sizes.
		mean := float64(keys) / float64(n)
		for p, c := range counts {
			if math.Abs(float64(c)-mean) > 0.1*mean {
				t.Errorf("n=%d: partition %d has %d keys, want about %.0f", n, p, c, mean)
			}
		}
	}
}

func TestHashPartitionExtremeHashes(t *testing.T) {
	// Hashes with the top bit set would turn negative under a signed modulo.
	h, err := NewHash(7, func(k uint64) uint64 { return k })
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 1, 1 << 63, math.MaxInt64} {
		if p := h.Partition(k); p < 0 || p >= 7 || uint64(p) != k%7 {
			t.Errorf("Partition(%d) = %d, want %d", k, p, k%7)
		}
	}
}

// checkRange partitions keys with r and checks the result against sorting:
// every key is kept, and partitions hold contiguous, ordered ranges.
func checkRange[K cmp.Ordered](t *testing.T, r *Range[K], keys []K, ascending bool) {
	t.Helper()
	n := r.NumPartitions()
	parts := make([][]K, n)
	for _, k := range keys {
		p := r.Partition(k)
		if p < 0 || p >= n {
			t.Fatalf("Partition(%v) = %d out of range [0,%d)", k, p, n)
		}
		parts[p] = append(parts[p], k)
	}
	// Concatenating the partitions in order, each sorted, must give all the
	// keys in sorted order (reversed for descending).
	var got []K
	order := func(i int) int { return i }
	if !ascending {
		order = func(i int) int { return n - 1 - i }
	}
	for i := range n {
		p := parts[order(i)]
		slices.Sort(p)
		got = append(got, p...)
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.EqualFunc(got, want, func(a, b K) bool { return cmp.Compare(a, b) == 0 }) {
		t.Fatalf("partitions are not contiguous ordered ranges of the keys:\nbounds %v", r.Bounds())
	}
	// The same key never lands in two partitions.
	where := map[K]int{}
	for p, keys := range parts {
		for _, k := range keys {
			if k != k { // NaN: not a usable map key, covered by the order check
				continue
			}
			if q, ok := where[k]; ok && q != p {
				t.Fatalf("key %v in partitions %d and %d", k, q, p)
			}
			where[k] = p
		}
	}
	bounds := r.Bounds()
	if len(bounds) > n-1 {
		t.Fatalf("%d bounds for %d partitions", len(bounds), n)
	}
	if !slices.IsSortedFunc(bounds, cmp.Compare[K]) || len(slices.Compact(slices.Clone(bounds))) != len(bounds) {
		t.Fatalf("bounds not strictly increasing: %v", bounds)
	}
}

func TestRangeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 5, 16, 100} {
		for _, asc := range []bool{true, false} {
			keys := make([]int, 10_000)
			for i := range keys {
				keys[i] = rng.IntN(50_000) - 25_000
			}
			sample, _ := Reservoir(slices.Values(keys), 20*n, rng.Uint64())
			r, err := NewRange(n, sample, asc)
			if err != nil {
				t.Fatal(err)
			}
			if r.NumPartitions() != n {
				t.Fatalf("NumPartitions = %d, want %d", r.NumPartitions(), n)
			}
			checkRange(t, r, keys, asc)
			// A sample of distinct keys uses every partition.
			if got := len(r.Bounds()); got != n-1 {
				t.Errorf("n=%d: %d bounds, want %d", n, got, n-1)
			}
			// Ranges are balanced roughly as the sample predicts.
			counts := make([]int, n)
			for _, k := range keys {
				counts[r.Partition(k)]++
			}
			for p, c := range counts {
				if want := len(keys) / n; c > 3*want {
					t.Errorf("n=%d: partition %d has %d keys, want about %d", n, p, c, want)
				}
			}
		}
	}
}

func TestRangeQuantiles(t *testing.T) {
	sample := []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
	r, err := NewRange(3, sample, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Bounds(), []int{3, 6}; !slices.Equal(got, want) {
		t.Errorf("Bounds = %v, want %v", got, want)
	}
	if !slices.Equal(sample, []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}) {
		t.Error("NewRange modified its sample")
	}
	for k, want := range map[int]int{-5: 0, 3: 0, 4: 1, 6: 1, 7: 2, 100: 2} {
		if got := r.Partition(k); got != want {
			t.Errorf("Partition(%d) = %d, want %d", k, got, want)
		}
	}
	d, _ := NewRange(3, sample, false)
	for k, want := range map[int]int{-5: 2, 3: 2, 4: 1, 6: 1, 7: 0, 100: 0} {
		if got := d.Partition(k); got != want {
			t.Errorf("descending Partition(%d) = %d, want %d", k, got, want)
		}
	}
	if _, err := NewRange(0, sample, true); err == nil {
		t.Error("NewRange(0) succeeded")
	}
}

func TestRangeSkewed(t *testing.T) {
	for _, asc := range []bool{true, false} {
		sample := slices.Repeat([]string{"x"}, 100)
		r, err := NewRange(8, sample, asc)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Bounds(); !slices.Equal(got, []string{"x"}) {
			t.Errorf("Bounds = %q, want [x]", got)
		}
		checkRange(t, r, []string{"a", "x", "x", "y", "", "zzz", "w"}, asc)

		// Mostly one value with a few others: duplicates collapse but the
		// distinct values still split.
		sample = append(slices.Repeat([]string{"m"}, 90), "a", "b", "c", "y", "z")
		r, err = NewRange(4, sample, asc)
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, r, append(sample, "0", "n", "zz"), asc)
	}
}

func TestRangeEmptySample(t *testing.T) {
	for _, asc := range []bool{true, false} {
		r, err := NewRange[int](4, nil, asc)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Bounds()) != 0 {
			t.Errorf("Bounds = %v, want none", r.Bounds())
		}
		p := r.Partition(math.MinInt)
		for _, k := range []int{-1, 0, 1, math.MaxInt} {
			if q := r.Partition(k); q != p {
				t.Errorf("Partition(%d) = %d, want %d like every key", k, q, p)
			}
		}
	}
}

func TestRangeOnePartition(t *testing.T) {
	r, err := NewRange(1, []int{1, 2, 3}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{-10, 2, 10} {
		if p := r.Partition(k); p != 0 {
			t.Errorf("Partition(%d) = %d, want 0", k, p)
		}
	}
}

func TestRangeFloatNaN(t *testing.T) {
	nan := math.NaN()
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []float64{nan, math.Inf(-1), math.Inf(1), 0, math.Copysign(0, -1), nan}
	for range 1000 {
		keys = append(keys, rng.NormFloat64())
	}
	sample := slices.Concat(keys[:200], []float64{nan, nan, nan})
	for _, asc := range []bool{true, false} {
		r, err := NewRange(6, sample, asc)
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, r, keys, asc)
		if p, q := r.Partition(nan), r.Partition(math.Inf(-1)); asc && p > q || !asc && p < q {
			t.Errorf("NaN in partition %d, -Inf in %d: NaN must sort first", p, q)
		}
	}
	// A sample of NaNs only still yields a valid partitioner.
	r, err := NewRange(3, []float64{nan, nan}, true)
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, r, keys, true)
}

func TestReservoir(t *testing.T) {
	for _, tc := range []struct{ items, n, wantLen int }{
		{0, 5, 0}, {3, 5, 3}, {5, 5, 5}, {1000, 10, 10}, {100, 0, 0},
	} {
		sample, total := Reservoir(ints(tc.items), tc.n, 1)
		if len(sample) != tc.wantLen || total != int64(tc.items) {
			t.Errorf("Reservoir(%d items, %d) = %d items, total %d; want %d, %d",
				tc.items, tc.n, len(sample), total, tc.wantLen, tc.items)
		}
		seen := map[int]bool{}
		for _, v := range sample {
			if v < 0 || v >= tc.items || seen[v] {
				t.Errorf("sample %v has invalid or repeated item %d", sample, v)
			}
			seen[v] = true
		}
	}
	a, _ := Reservoir(ints(1000), 10, 42)
	b, _ := Reservoir(ints(1000), 10, 42)
	if !slices.Equal(a, b) {
		t.Errorf("same seed gave different samples %v and %v", a, b)
	}
}

func TestReservoirUniform(t *testing.T) {
	// Every item of a population of 100 must be drawn into a sample of 10
	// with probability 1/10; over 20000 trials each count is about 2000,
	// with a standard deviation near 42.
	const items, n, trials = 100, 10, 20000
	counts := make([]int, items)
	for s := range trials {
		sample, _ := Reservoir(ints(items), n, uint64(s))
		for _, v := range sample {
			counts[v]++
		}
	}
	want := float64(trials * n / items)
	for v, c := range counts {
		if math.Abs(float64(c)-want) > 0.12*want {
			t.Errorf("item %d drawn %d times, want about %.0f", v, c, want)
		}
	}
	// Early and late items alike: compare halves.
	var first, second int
	for v, c := range counts {
		if v < items/2 {
			first += c
		} else {
			second += c
		}
	}
	if math.Abs(float64(first-second)) > 0.03*float64(first+second) {
		t.Errorf("first half drawn %d times, second half %d", first, second)
	}
}

func TestReservoirLargePopulation(t *testing.T) {
	// Algorithm L skips ahead; items far into the stream must still be
	// drawn as often as early ones, so the sample mean sits mid-population.
	const items, n = 200_000, 500
	var sum float64
	for s := range 20 {
		sample, total := Reservoir(ints(items), n, uint64(s))
		if len(sample) != n || total != items {
			t.Fatalf("sample of %d, total %d", len(sample), total)
		}
		for _, v := range sample {
			sum += float64(v)
		}
	}
	mean := sum / (20 * n)
	if want := float64(items-1) / 2; math.Abs(mean-want) > 0.03*want {
		t.Errorf("sample mean %.0f, want about %.0f", mean, want)
	}
}

// ints yields 0, 1, ..., n-1.
func ints(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

func BenchmarkHashPartition(b *testing.B) {
	h, err := NewHash(200, func(k uint64) uint64 { return k * 0x9e3779b97f4a7c15 })
	if err != nil {
		b.Fatal(err)
	}
	var sink int
	for i := 0; b.Loop(); i++ {
		sink += h.Partition(uint64(i))
	}
	_ = sink
}

func BenchmarkRangePartition(b *testing.B) {
	sample := make([]int64, 2000)
	for i := range sample {
		sample[i] = rand.Int64()
	}
	r, err := NewRange(200, sample, true)
	if err != nil {
		b.Fatal(err)
	}
	var sink int
	for i := int64(0); b.Loop(); i++ {
		sink += r.Partition(i * 0x5851f42d4c957f2d)
	}
	_ = sink
}
