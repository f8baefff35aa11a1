package radix

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

type pair struct {
	Key   int64
	Value string
}

func TestSortMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func() int64{
		"random":     func() int64 { return rng.Int64() - math.MaxInt64/2 },
		"few keys":   func() int64 { return rng.Int64N(5) - 2 },
		"one key":    func() int64 { return 7 },
		"extremes":   func() int64 { return []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[rng.IntN(5)] },
		"high bytes": func() int64 { return rng.Int64N(1<<8) << 48 },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 3, 100, 5000} {
			for _, descending := range []bool{false, true} {
				xs := make([]pair, n)
				for i := range xs {
					xs[i] = pair{gen(), string(rune('a' + i%26))}
				}
				want := slices.Clone(xs)
				slices.SortStableFunc(want, func(a, b pair) int {
					if descending {
						return cmp.Compare(b.Key, a.Key)
					}
					return cmp.Compare(a.Key, b.Key)
				})
				mask := uint64(1) << 63
				if descending {
					mask = ^mask
				}
				got := Sort(xs, make([]pair, n), mask)
				if !slices.Equal(got, want) {
					t.Fatalf("%s, n=%d, descending=%v: radix order differs from a stable sort", name, n, descending)
				}
			}
		}
	}
}

func TestSortUnsigned(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]uint64, 10_000)
	for i := range xs {
		xs[i] = rng.Uint64()
	}
	want := slices.Sorted(slices.Values(xs))
	if got := Sort(xs, make([]uint64, len(xs)), 0); !slices.Equal(got, want) {
		t.Fatal("unsigned keys out of order")
	}
}

func BenchmarkSort(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]pair, 1<<20)
	for i := range data {
		data[i].Key = rng.Int64()
	}
	xs, scratch := make([]pair, len(data)), make([]pair, len(data))
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			copy(xs, data)
			Sort(xs, scratch, 1<<63)
		}
	})
	b.Run("pdqsort", func(b *testing.B) {
		for b.Loop() {
			copy(xs, data)
			slices.SortFunc(xs, func(a, b pair) int { return cmp.Compare(a.Key, b.Key) })
		}
	})
}
