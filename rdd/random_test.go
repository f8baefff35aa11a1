package rdd_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ember-go/ember/rdd"
)

// model is what a pipeline must compute, in plain Go: its elements, and
// whether their order is defined (it is lost by shuffles other than sorts).
type model struct {
	elems   []int64
	ordered bool
}

// step is one random operator: it extends the pipeline and its model alike.
type step struct {
	name  string
	apply func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model)
}

var steps = []step{
	{"Map", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		f := func(x int64) int64 { return x*3%1009 - 7 }
		return rdd.Map(r, f), model{mapSlice(m.elems, f), m.ordered}
	}},
	{"Filter", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		f := func(x int64) bool { return x%3 != 0 }
		return r.Filter(f), model{slices.DeleteFunc(slices.Clone(m.elems), func(x int64) bool { return !f(x) }), m.ordered}
	}},
	{"FlatMap", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		f := func(x int64) []int64 { return slices.Repeat([]int64{x, -x}, int(x&1)) }
		var out []int64
		for _, x := range m.elems {
			out = append(out, f(x)...)
		}
		return rdd.FlatMap(r, f), model{out, m.ordered}
	}},
	{"Union", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return r.Union(r), model{slices.Concat(m.elems, m.elems), m.ordered}
	}},
	{"ZipMap", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		z := rdd.Zip(r, rdd.Map(r, func(x int64) int64 { return x + 1 }))
		return rdd.Map(z, func(p rdd.Pair[int64, int64]) int64 { return p.Key * p.Value % 997 }),
			model{mapSlice(m.elems, func(x int64) int64 { return x * (x + 1) % 997 }), m.ordered}
	}},
	{"Coalesce", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return r.Coalesce(2), m
	}},
	{"Repartition", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return r.Repartition(5), model{m.elems, false}
	}},
	{"Distinct", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return rdd.Distinct(r, 3), model{slices.Compact(slices.Sorted(slices.Values(m.elems))), false}
	}},
	{"ReduceByKey", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		sums := map[int64]int64{}
		for _, x := range m.elems {
			sums[x%7] += x
		}
		var out []int64
		for k, v := range sums {
			out = append(out, k*100000+v)
		}
		pairs := rdd.ReduceByKey(rdd.KeyBy(r, func(x int64) int64 { return x % 7 }), func(a, b int64) int64 { return a + b }, 4)
		return rdd.Map(pairs, func(p rdd.Pair[int64, int64]) int64 { return p.Key*100000 + p.Value }), model{out, false}
	}},
	{"SortBy", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return rdd.SortBy(r, func(x int64) int64 { return x }, true, 3), model{slices.Sorted(slices.Values(m.elems)), true}
	}},
	{"Cache", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return r.Cache(), m
	}},
	{"PersistDisk", func(r *rdd.RDD[int64], m model) (*rdd.RDD[int64], model) {
		return rdd.Map(r, func(x int64) int64 { return x }).Persist(rdd.DiskOnly), m
	}},
}

// TestRandomPipelines builds random chains of operators and checks every
// one against its plain-Go model, through several actions.
func TestRandomPipelines(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[3]"), rdd.WithConf("storage.memoryLimit", "256k"))
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(2026, 11))
	for i := range 150 {
		n := rng.IntN(400)
		data := make([]int64, n)
		for j := range data {
			data[j] = rng.Int64N(2000) - 1000
		}
		r := rdd.Parallelize(s, data, 1+rng.IntN(6))
		m := model{data, true}
		var names []string
		for range 1 + rng.IntN(6) {
			st := steps[rng.IntN(len(steps))]
			r, m = st.apply(r, m)
			names = append(names, st.name)
		}
		what := fmt.Sprintf("pipeline %d (%d elements): %s", i, n, strings.Join(names, " → "))
		got, err := r.Collect(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if m.ordered {
			equal(t, what, got, m.elems)
		} else {
			sameElements(t, what, got, m.elems)
		}
		count, err := r.Count(ctx)
		if err != nil || count != int64(len(m.elems)) {
			t.Fatalf("%s: Count = %d, %v; want %d", what, count, err, len(m.elems))
		}
		var want int64
		for _, x := range m.elems {
			want += x
		}
		if sum, err := rdd.Sum(ctx, r); err != nil || sum != want {
			t.Fatalf("%s: Sum = %d, %v; want %d", what, sum, err, want)
		}
		k := rng.IntN(10)
		first, err := r.Take(ctx, k)
		if err != nil {
			t.Fatalf("%s: Take(%d): %v", what, k, err)
		}
		if m.ordered {
			equal(t, what+": Take", first, m.elems[:min(k, len(m.elems))])
		} else if len(first) != min(k, len(m.elems)) {
			t.Fatalf("%s: Take(%d) gave %d elements", what, k, len(first))
		}
	}
}
