package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ember-go/ember/rdd"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	rdd.Init() // the local-cluster tests start this test binary as executors
	// A gossip probe of a member that a test killed waits for its ack
	// timer, which memberlist scales up to eight probe intervals when
	// probes fail; the probe ends by itself after the driver's member has
	// shut down, and memberlist gives no way to wait for it. Everything
	// else of a member that was not shut down is still caught.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// newSession opens a session that the test closes.
func newSession(t testing.TB, opts ...rdd.Option) *rdd.Session {
	t.Helper()
	s, err := rdd.NewSession(append([]rdd.Option{rdd.WithMaster("local[4]")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// dataCase is one shape of input: how many elements, in how many partitions,
// drawn from how many distinct keys (few keys means heavy skew).
type dataCase struct {
	name  string
	n     int
	parts int
	keys  int
}

var cases = []dataCase{
	{"empty", 0, 3, 5},
	{"one", 1, 1, 5},
	{"one-in-many-partitions", 1, 8, 5}, // seven empty partitions
	{"few-over-many-partitions", 5, 16, 3},
	{"many-one-partition", 1000, 1, 50},
	{"many-skewed", 3000, 7, 4},
	{"many-spread", 5000, 5, 4000},
}

// ints returns n random ints in [0, keys), skewed: half of them are 0.
func ints(c dataCase, seed uint64) []int64 {
	rng := rand.New(rand.NewPCG(seed, uint64(c.n)))
	out := make([]int64, c.n)
	for i := range out {
		if rng.IntN(2) == 0 {
			out[i] = 0
		} else {
			out[i] = rng.Int64N(int64(c.keys))
		}
	}
	return out
}

func pairs(c dataCase, seed uint64) []rdd.Pair[string, int64] {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]rdd.Pair[string, int64], c.n)
	for i, k := range ints(c, seed) {
		out[i] = rdd.Pair[string, int64]{Key: fmt.Sprintf("k%d", k), Value: rng.Int64N(1000) - 500}
	}
	return out
}

func collect[T any](t *testing.T, r *rdd.RDD[T]) []T {
	t.Helper()
	got, err := r.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func equal[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d elements, want %d\ngot  %v\nwant %v", what, len(got), len(want), head(got), head(want))
	}
	for i := range got {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// sameElements compares two collections as multisets.
func sameElements[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	key := func(xs []T) []string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = fmt.Sprint(x)
		}
		slices.Sort(s)
		return s
	}
	equal(t, what+" (as multiset)", key(got), key(want))
}

func head[T any](xs []T) []T { return xs[:min(len(xs), 10)] }

func mapSlice[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func TestNarrowOperators(t *testing.T) {
	s := newSession(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := ints(c, 1)
			r := rdd.Parallelize(s, data, c.parts)
			if r.NumPartitions() != c.parts {
				t.Fatalf("NumPartitions = %d, want %d", r.NumPartitions(), c.parts)
			}
			equal(t, "Parallelize", collect(t, r), data)

			sq := func(x int64) int64 { return x*x + 1 }
			equal(t, "Map", collect(t, rdd.Map(r, sq)), mapSlice(data, sq))

			even := func(x int64) bool { return x%2 == 0 }
			equal(t, "Filter", collect(t, r.Filter(even)), slices.DeleteFunc(slices.Clone(data), func(x int64) bool { return !even(x) }))

			rep := func(x int64) []string { return slices.Repeat([]string{fmt.Sprint(x)}, int(x%3)) }
			var wantFlat []string
			for _, x := range data {
				wantFlat = append(wantFlat, rep(x)...)
			}
			equal(t, "FlatMap", collect(t, rdd.FlatMap(r, rep)), wantFlat)

			running := rdd.MapPartitions(r, func(p int, in iter.Seq[int64]) iter.Seq[string] {
				return func(yield func(string) bool) {
					var sum int64
					for x := range in {
						sum += x
						if !yield(fmt.Sprintf("%d:%d", p, sum)) {
							return
						}
					}
				}
			})
			var wantRunning []string
			for p := range c.parts {
				var sum int64
				for _, x := range data[p*len(data)/c.parts : (p+1)*len(data)/c.parts] {
					sum += x
					wantRunning = append(wantRunning, fmt.Sprintf("%d:%d", p, sum))
				}
			}
			equal(t, "MapPartitions", collect(t, running), wantRunning)

			batched := rdd.MapBatches(r, func(in []int64) []string {
				out := make([]string, len(in))
				for i, x := range in {
					out[i] = fmt.Sprint(sq(x))
				}
				return out
			})
			equal(t, "MapBatches", collect(t, batched), mapSlice(data, func(x int64) string { return fmt.Sprint(sq(x)) }))
			zb := rdd.ZipBatches(r, rdd.Map(r, sq), func(x, y []int64) []int64 {
				out := make([]int64, len(x))
				for i := range x {
					out[i] = x[i] - y[i]
				}
				return out
			})
			equal(t, "ZipBatches", collect(t, zb), mapSlice(data, func(x int64) int64 { return x - sq(x) }))

			kb := rdd.KeyBy(r, func(x int64) int64 { return x % 3 })
			equal(t, "KeyBy", collect(t, kb), mapSlice(data, func(x int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: x % 3, Value: x} }))
			mv := rdd.MapValues(kb, func(v int64) string { return fmt.Sprint(-v) })
			equal(t, "MapValues", collect(t, mv), mapSlice(data, func(x int64) rdd.Pair[int64, string] {
				return rdd.Pair[int64, string]{Key: x % 3, Value: fmt.Sprint(-x)}
			}))

			z := rdd.Zip(r, rdd.Map(r, sq))
			equal(t, "Zip", collect(t, z), mapSlice(data, func(x int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: x, Value: sq(x)} }))

			u := r.Union(rdd.Map(r, sq), r)
			equal(t, "Union", collect(t, u), slices.Concat(data, mapSlice(data, sq), data))
			if u.NumPartitions() != 3*c.parts {
				t.Fatalf("Union has %d partitions, want %d", u.NumPartitions(), 3*c.parts)
			}

			for _, n := range []int{1, 2, c.parts, c.parts + 3} {
				co := r.Coalesce(n)
				equal(t, fmt.Sprintf("Coalesce(%d)", n), collect(t, co), data)
				if want := min(n, c.parts); co.NumPartitions() != want {
					t.Fatalf("Coalesce(%d) has %d partitions, want %d", n, co.NumPartitions(), want)
				}
			}
		})
	}
}

func TestSample(t *testing.T) {
	s := newSession(t)
	data := make([]int64, 20000)
	for i := range data {
		data[i] = int64(i)
	}
	r := rdd.Parallelize(s, data, 5)
	for _, frac := range []float64{0, 0.1, 0.5, 1} {
		got := collect(t, r.Sample(false, frac, 7))
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("Sample(false, %v) is not an ordered subset", frac)
		}
		want := frac * float64(len(data))
		if d := float64(len(got)) - want; d > 0.05*float64(len(data)) || d < -0.05*float64(len(data)) {
			t.Fatalf("Sample(false, %v) kept %d, want about %.0f", frac, len(got), want)
		}
		equal(t, "same seed, same sample", collect(t, r.Sample(false, frac, 7)), got)
	}
	got := collect(t, r.Sample(true, 2, 3))
	if n := float64(len(got)); n < 1.9*float64(len(data)) || n > 2.1*float64(len(data)) {
		t.Fatalf("Sample(true, 2) gave %d elements, want about %d", len(got), 2*len(data))
	}
	for _, bad := range []struct {
		repl bool
		frac float64
	}{{false, -0.1}, {false, 1.5}, {true, -1}} {
		if _, err := r.Sample(bad.repl, bad.frac, 1).Count(context.Background()); err == nil || !strings.Contains(err.Error(), "fraction") {
			t.Fatalf("Sample(%v, %v): error %v, want one about the fraction", bad.repl, bad.frac, err)
		}
	}
}

func TestWideOperators(t *testing.T) {
	s := newSession(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kv := pairs(c, 2)
			r := rdd.Parallelize(s, kv, c.parts)
			for _, n := range []int{0, 1, 4} {
				t.Run(fmt.Sprintf("reducers=%d", n), func(t *testing.T) {
					sums := map[string]int64{}
					groups := map[string][]int64{}
					for _, p := range kv {
						sums[p.Key] += p.Value
						groups[p.Key] = append(groups[p.Key], p.Value)
					}
					add := func(a, b int64) int64 { return a + b }
					rbk := rdd.ReduceByKey(r, add, n)
					if want := cmp.Or(n, c.parts); rbk.NumPartitions() != want {
						t.Fatalf("ReduceByKey has %d partitions, want %d", rbk.NumPartitions(), want)
					}
					if got := toMap(collect(t, rbk)); !maps.Equal(got, sums) {
						t.Fatalf("ReduceByKey = %v, want %v", head(sortedPairs(got)), head(sortedPairs(sums)))
					}

					type stats struct{ N, Sum int64 }
					agg := rdd.AggregateByKey(r, stats{}, func(a stats, v int64) stats { return stats{a.N + 1, a.Sum + v} },
						func(a, b stats) stats { return stats{a.N + b.N, a.Sum + b.Sum} }, n)
					for _, p := range collect(t, agg) {
						if p.Value.N != int64(len(groups[p.Key])) || p.Value.Sum != sums[p.Key] {
							t.Fatalf("AggregateByKey[%s] = %+v, want {%d %d}", p.Key, p.Value, len(groups[p.Key]), sums[p.Key])
						}
					}

					grouped := collect(t, rdd.GroupByKey(r, n))
					if len(grouped) != len(groups) {
						t.Fatalf("GroupByKey gave %d keys, want %d", len(grouped), len(groups))
					}
					for _, g := range grouped {
						sameElements(t, "GroupByKey "+g.Key, g.Value, groups[g.Key])
					}

					// Every key once, twice for the skewed key, plus keys absent from r.
					var otherData []rdd.Pair[string, int64]
					for k := range c.keys + 2 {
						otherData = append(otherData, rdd.Pair[string, int64]{Key: fmt.Sprintf("k%d", k), Value: int64(k)})
					}
					otherData = append(otherData, rdd.Pair[string, int64]{Key: "k0", Value: -1})
					other := rdd.Parallelize(s, otherData, 3)
					var wantJoin []rdd.Pair[string, rdd.Pair[int64, int64]]
					for _, b := range collect(t, other) {
						for _, v := range groups[b.Key] {
							wantJoin = append(wantJoin, rdd.Pair[string, rdd.Pair[int64, int64]]{Key: b.Key, Value: rdd.Pair[int64, int64]{Key: v, Value: b.Value}})
						}
					}
					sameElements(t, "Join", collect(t, rdd.Join(r, other, n)), wantJoin)

					keys := rdd.Map(r, func(p rdd.Pair[string, int64]) string { return p.Key })
					sameElements(t, "Distinct", collect(t, rdd.Distinct(keys, n)), slices.Collect(maps.Keys(groups)))

					sameElements(t, "Repartition", collect(t, r.Repartition(n)), kv)

					for _, asc := range []bool{true, false} {
						sorted := collect(t, rdd.SortBy(r, func(p rdd.Pair[string, int64]) int64 { return p.Value }, asc, n))
						sameElements(t, "SortBy", sorted, kv)
						if !slices.IsSortedFunc(sorted, func(a, b rdd.Pair[string, int64]) int {
							if asc {
								return cmp.Compare(a.Value, b.Value)
							}
							return cmp.Compare(b.Value, a.Value)
						}) {
							t.Fatalf("SortBy(ascending=%v) is out of order: %v", asc, head(sorted))
						}
						byKey := collect(t, rdd.SortByKey(r, asc, n))
						sameElements(t, "SortByKey", byKey, kv)
						if !slices.IsSortedFunc(byKey, func(a, b rdd.Pair[string, int64]) int {
							if asc {
								return strings.Compare(a.Key, b.Key)
							}
							return strings.Compare(b.Key, a.Key)
						}) {
							t.Fatalf("SortByKey(ascending=%v) is out of order", asc)
						}
					}
				})
			}
		})
	}
}

func toMap[K comparable, V any](ps []rdd.Pair[K, V]) map[K]V {
	m := make(map[K]V, len(ps))
	for _, p := range ps {
		m[p.Key] = p.Value
	}
	return m
}

func sortedPairs[K cmp.Ordered, V any](m map[K]V) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%v=%v", k, m[k]))
	}
	return out
}

func TestActions(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := ints(c, 3)
			r := rdd.Parallelize(s, data, c.parts)
			n, err := r.Count(ctx)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("Count = %d, %v; want %d", n, err, len(data))
			}
			var want int64
			for _, x := range data {
				want += x
			}
			add := func(a, b int64) int64 { return a + b }
			sum, err := r.Reduce(ctx, add)
			if len(data) == 0 {
				if !errors.Is(err, rdd.ErrEmpty) {
					t.Fatalf("Reduce on empty RDD: %v, want ErrEmpty", err)
				}
			} else if err != nil || sum != want {
				t.Fatalf("Reduce = %d, %v; want %d", sum, err, want)
			}
			// Reduce over a Map folds in the same loop as the map (and in
			// interleaved lanes): it must still see every element once.
			sq := func(x int64) int64 { return x*x - 3 }
			var wantSq int64
			for _, x := range data {
				wantSq += sq(x)
			}
			if got, err := rdd.Map(r, sq).Reduce(ctx, add); len(data) > 0 && (err != nil || got != wantSq) {
				t.Fatalf("Reduce over Map = %d, %v; want %d", got, err, wantSq)
			}
			if got, err := rdd.Map(r, sq).Cache().Reduce(ctx, add); len(data) > 0 && (err != nil || got != wantSq) {
				t.Fatalf("Reduce over a cached Map = %d, %v; want %d", got, err, wantSq)
			}
			if got, err := r.Fold(ctx, 0, add); err != nil || got != want {
				t.Fatalf("Fold = %d, %v; want %d", got, err, want)
			}
			type mm struct{ Min, Max, N int64 }
			agg, err := rdd.Aggregate(ctx, r, mm{Min: 1 << 62, Max: -1 << 62},
				func(a mm, x int64) mm { return mm{min(a.Min, x), max(a.Max, x), a.N + 1} },
				func(a, b mm) mm { return mm{min(a.Min, b.Min), max(a.Max, b.Max), a.N + b.N} })
			if err != nil || agg.N != int64(len(data)) || (len(data) > 0 && (agg.Min != slices.Min(data) || agg.Max != slices.Max(data))) {
				t.Fatalf("Aggregate = %+v, %v", agg, err)
			}
			for _, k := range []int{0, 1, 3, len(data), len(data) + 5} {
				got, err := r.Take(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				equal(t, fmt.Sprintf("Take(%d)", k), got, data[:min(k, len(data))])
			}
			first, err := r.First(ctx)
			if len(data) == 0 {
				if !errors.Is(err, rdd.ErrEmpty) {
					t.Fatalf("First on empty: %v, want ErrEmpty", err)
				}
			} else if err != nil || first != data[0] {
				t.Fatalf("First = %d, %v; want %d", first, err, data[0])
			}
			var seen atomic.Int64
			if err := r.Foreach(ctx, func(x int64) { seen.Add(x) }); err != nil || seen.Load() != want {
				t.Fatalf("Foreach summed %d, %v; want %d", seen.Load(), err, want)
			}
			counts, err := rdd.CountByKey(ctx, rdd.KeyBy(r, func(x int64) int64 { return x }))
			if err != nil {
				t.Fatal(err)
			}
			wantCounts := map[int64]int64{}
			for _, x := range data {
				wantCounts[x]++
			}
			if !maps.Equal(counts, wantCounts) {
				t.Fatalf("CountByKey = %v, want %v", counts, wantCounts)
			}
		})
	}
}

func TestTakeRunsFewPartitions(t *testing.T) {
	s := newSession(t)
	var computed atomic.Int64
	r := rdd.Generate(s, 50, func(p int) iter.Seq[int64] {
		computed.Add(1)
		return slices.Values([]int64{int64(p), int64(p)})
	})
	got, err := r.Take(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Take(3)", got, []int64{0, 0, 1})
	if n := computed.Load(); n > 5 {
		t.Fatalf("Take(3) computed %d partitions of 50, want at most 5", n)
	}
}

func TestSources(t *testing.T) {
	s := newSession(t)
	for _, tc := range []struct {
		start, end int64
		parts      int
	}{{0, 0, 3}, {-5, 17, 4}, {10, 5, 2}, {0, 1, 7}, {3, 1003, 1}} {
		var want []int64
		for i := tc.start; i < tc.end; i++ {
			want = append(want, i)
		}
		r := rdd.Range(s, tc.start, tc.end, tc.parts)
		equal(t, fmt.Sprintf("Range(%d, %d, %d)", tc.start, tc.end, tc.parts), collect(t, r), want)
	}
	gen := rdd.Generate(s, 4, func(p int) iter.Seq[string] {
		return func(yield func(string) bool) {
			for i := range p * 3 { // partition 0 is empty
				if !yield(fmt.Sprintf("%d-%d", p, i)) {
					return
				}
			}
		}
	})
	var want []string
	for p := range 4 {
		for i := range p * 3 {
			want = append(want, fmt.Sprintf("%d-%d", p, i))
		}
	}
	equal(t, "Generate", collect(t, gen), want)

	empty := rdd.TextFile(s, t.TempDir(), 3) // a directory without files
	if n, err := empty.Count(context.Background()); err != nil || n != 0 || empty.NumPartitions() != 0 {
		t.Fatalf("TextFile of an empty directory: %d elements in %d partitions, %v", n, empty.NumPartitions(), err)
	}
	if _, err := empty.Reduce(context.Background(), func(a, b string) string { return a + b }); !errors.Is(err, rdd.ErrEmpty) {
		t.Fatalf("Reduce of an RDD without partitions: %v, want ErrEmpty", err)
	}
}
