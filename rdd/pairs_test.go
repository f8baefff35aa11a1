package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ember-go/ember/rdd"
)

type kv = rdd.Pair[string, int64]

func TestPairOperators(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			left, right := pairs(c, 11), joinSide(c)
			a := rdd.Parallelize(s, left, c.parts)
			b := rdd.Parallelize(s, right, 3)
			groupsA, groupsB := group(left), group(right)

			sameElements(t, "Keys", collect(t, rdd.Keys(a)), mapSlice(left, func(p kv) string { return p.Key }))
			sameElements(t, "Values", collect(t, rdd.Values(a)), mapSlice(left, func(p kv) int64 { return p.Value }))
			var wantFlat []kv
			for _, p := range left {
				for i := range p.Value % 3 {
					wantFlat = append(wantFlat, kv{Key: p.Key, Value: i})
				}
			}
			flat := rdd.FlatMapValues(a, func(v int64) []int64 {
				var out []int64
				for i := range v % 3 {
					out = append(out, i)
				}
				return out
			})
			equal(t, "FlatMapValues", collect(t, flat), wantFlat)

			wantMax := map[string]int64{}
			for k, vs := range groupsA {
				wantMax[k] = slices.Max(vs)
			}
			folded := rdd.FoldByKey(a, math.MinInt64, func(x, y int64) int64 { return max(x, y) }, 2)
			if got := toMap(collect(t, folded)); !maps.Equal(got, wantMax) {
				t.Fatalf("FoldByKey = %v, want %v", got, wantMax)
			}
			lists := rdd.CombineByKey(a, func(v int64) []int64 { return []int64{v} },
				func(c []int64, v int64) []int64 { return append(c, v) },
				func(x, y []int64) []int64 { return append(x, y...) }, 0)
			for _, p := range collect(t, lists) {
				sameElements(t, "CombineByKey "+p.Key, p.Value, groupsA[p.Key])
			}

			var wantCo []string
			for _, k := range union(groupsA, groupsB) {
				wantCo = append(wantCo, fmt.Sprint(k, sorted(groupsA[k]), sorted(groupsB[k])))
			}
			var gotCo []string
			for _, p := range collect(t, rdd.CoGroup(a, b, 4)) {
				gotCo = append(gotCo, fmt.Sprint(p.Key, sorted(p.Value.Key), sorted(p.Value.Value)))
			}
			sameElements(t, "CoGroup", gotCo, wantCo)

			var inner, leftOuter, rightOuter, fullOuter []string
			for _, k := range union(groupsA, groupsB) {
				vs, ws := groupsA[k], groupsB[k]
				for _, v := range vs {
					for _, w := range ws {
						inner = append(inner, line(k, v, w))
					}
					if len(ws) == 0 {
						leftOuter = append(leftOuter, line(k, v, "-"))
						fullOuter = append(fullOuter, line(k, v, "-"))
					}
				}
				if len(vs) == 0 {
					for _, w := range ws {
						rightOuter = append(rightOuter, line(k, "-", w))
						fullOuter = append(fullOuter, line(k, "-", w))
					}
				}
			}
			opt := func(o rdd.Optional[int64]) string {
				if !o.Valid {
					return "-"
				}
				return fmt.Sprint(o.Value)
			}
			sameElements(t, "Join", mapSlice(collect(t, rdd.Join(a, b, 0)), func(p rdd.Pair[string, rdd.Pair[int64, int64]]) string {
				return line(p.Key, p.Value.Key, p.Value.Value)
			}), inner)
			sameElements(t, "LeftOuterJoin", mapSlice(collect(t, rdd.LeftOuterJoin(a, b, 2)), func(p rdd.Pair[string, rdd.Pair[int64, rdd.Optional[int64]]]) string {
				return line(p.Key, p.Value.Key, opt(p.Value.Value))
			}), slices.Concat(inner, leftOuter))
			sameElements(t, "RightOuterJoin", mapSlice(collect(t, rdd.RightOuterJoin(a, b, 3)), func(p rdd.Pair[string, rdd.Pair[rdd.Optional[int64], int64]]) string {
				return line(p.Key, opt(p.Value.Key), p.Value.Value)
			}), slices.Concat(inner, rightOuter))
			sameElements(t, "FullOuterJoin", mapSlice(collect(t, rdd.FullOuterJoin(a, b, 1)), func(p rdd.Pair[string, rdd.Pair[rdd.Optional[int64], rdd.Optional[int64]]]) string {
				return line(p.Key, opt(p.Value.Key), opt(p.Value.Value))
			}), slices.Concat(inner, fullOuter))

			var wantSub []kv
			for _, p := range left {
				if _, ok := groupsB[p.Key]; !ok {
					wantSub = append(wantSub, p)
				}
			}
			sameElements(t, "SubtractByKey", collect(t, rdd.SubtractByKey(a, b, 0)), wantSub)

			ka, kb := rdd.Keys(a), rdd.Keys(b)
			var wantMinus, wantBoth []string
			for _, p := range left {
				if _, ok := groupsB[p.Key]; !ok {
					wantMinus = append(wantMinus, p.Key)
				}
			}
			for k := range groupsA {
				if _, ok := groupsB[k]; ok {
					wantBoth = append(wantBoth, k)
				}
			}
			sameElements(t, "Subtract", collect(t, rdd.Subtract(ka, kb, 0)), wantMinus)
			sameElements(t, "Intersection", collect(t, rdd.Intersection(ka, kb, 2)), wantBoth)

			byValue, err := rdd.CountByValue(ctx, ka)
			if err != nil {
				t.Fatal(err)
			}
			wantCount := map[string]int64{}
			for k, vs := range groupsA {
				wantCount[k] = int64(len(vs))
			}
			if !maps.Equal(byValue, wantCount) {
				t.Fatalf("CountByValue = %v, want %v", byValue, wantCount)
			}
			asMap, err := rdd.CollectAsMap(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			wantMap := map[string]int64{}
			for _, p := range left {
				wantMap[p.Key] = p.Value
			}
			if !maps.Equal(asMap, wantMap) {
				t.Fatalf("CollectAsMap = %v, want %v (last value wins)", asMap, wantMap)
			}
		})
	}
}

// joinSide is the right side of joins with pairs(c, …): one or two values
// per key, and keys absent from the left, so that joins stay the size of
// the left however skewed it is.
func joinSide(c dataCase) []kv {
	var right []kv
	for k := range c.keys + 3 {
		for i := range 1 + k%2 {
			right = append(right, kv{Key: fmt.Sprintf("k%d", k), Value: int64(10*k + i)})
		}
	}
	return right
}

func group(ps []kv) map[string][]int64 {
	g := map[string][]int64{}
	for _, p := range ps {
		g[p.Key] = append(g[p.Key], p.Value)
	}
	return g
}

func union(a, b map[string][]int64) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func sorted(xs []int64) []int64 { return slices.Sorted(slices.Values(xs)) }

// line formats one joined row for comparison.
func line(k, v, w any) string { return fmt.Sprintf("%v %v %v", k, v, w) }

func TestNarrowExtras(t *testing.T) {
	s := newSession(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := ints(c, 5)
			r := rdd.Parallelize(s, data, c.parts)
			globbed := collect(t, rdd.Glom(r))
			if len(globbed) != c.parts {
				t.Fatalf("Glom gave %d slices, want one per partition (%d)", len(globbed), c.parts)
			}
			equal(t, "Glom flattened", slices.Concat(globbed...), data)

			small := rdd.Parallelize(s, []string{"x", "y", "z"}, 2)
			var wantCart []string
			for _, x := range data {
				for _, y := range []string{"x", "y", "z"} {
					wantCart = append(wantCart, fmt.Sprint(x, y))
				}
			}
			cart := rdd.Cartesian(r, small)
			if cart.NumPartitions() != 2*c.parts {
				t.Fatalf("Cartesian has %d partitions, want %d", cart.NumPartitions(), 2*c.parts)
			}
			sameElements(t, "Cartesian", mapSlice(collect(t, cart), func(p rdd.Pair[int64, string]) string { return fmt.Sprint(p.Key, p.Value) }), wantCart)

			ids := collect(t, rdd.ZipWithUniqueID(r))
			equal(t, "ZipWithUniqueID elements", mapSlice(ids, func(p rdd.Pair[int64, int64]) int64 { return p.Key }), data)
			seen := map[int64]bool{}
			for _, p := range ids {
				if seen[p.Value] {
					t.Fatalf("id %d given twice", p.Value)
				}
				seen[p.Value] = true
			}
		})
	}
}

func TestOrderedAndNumericActions(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := ints(c, 6)
			r := rdd.Parallelize(s, data, c.parts)
			asc := slices.Sorted(slices.Values(data))
			for _, n := range []int{0, 1, 5, len(data) + 2} {
				got, err := r.TakeOrdered(ctx, n, cmp.Compare[int64])
				if err != nil {
					t.Fatal(err)
				}
				equal(t, fmt.Sprintf("TakeOrdered(%d)", n), got, asc[:min(n, len(asc))])
				top, err := r.Top(ctx, n, cmp.Compare[int64])
				if err != nil {
					t.Fatal(err)
				}
				desc := slices.Clone(asc)
				slices.Reverse(desc)
				equal(t, fmt.Sprintf("Top(%d)", n), top, desc[:min(n, len(desc))])
			}
			sum, err := rdd.Sum(ctx, r)
			var want int64
			for _, x := range data {
				want += x
			}
			if err != nil || sum != want {
				t.Fatalf("Sum = %d, %v; want %d", sum, err, want)
			}
			st, err := rdd.StatsOf(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if st.Count != int64(len(data)) || st.Sum != float64(want) {
				t.Fatalf("StatsOf count/sum = %d/%v, want %d/%d", st.Count, st.Sum, len(data), want)
			}
			if len(data) == 0 {
				if _, err := r.Max(ctx, cmp.Compare[int64]); err == nil {
					t.Fatal("Max of an empty RDD gave no error")
				}
				return
			}
			mean := float64(want) / float64(len(data))
			var ss float64
			for _, x := range data {
				ss += (float64(x) - mean) * (float64(x) - mean)
			}
			if math.Abs(st.Mean-mean) > 1e-9*math.Max(1, math.Abs(mean)) || math.Abs(st.Variance()-ss/float64(len(data))) > 1e-6*math.Max(1, ss) {
				t.Fatalf("StatsOf mean/variance = %v/%v, want %v/%v", st.Mean, st.Variance(), mean, ss/float64(len(data)))
			}
			if st.Min != float64(asc[0]) || st.Max != float64(asc[len(asc)-1]) {
				t.Fatalf("StatsOf min/max = %v/%v", st.Min, st.Max)
			}
			if mx, err := r.Max(ctx, cmp.Compare[int64]); err != nil || mx != asc[len(asc)-1] {
				t.Fatalf("Max = %d, %v", mx, err)
			}
			if mn, err := r.Min(ctx, cmp.Compare[int64]); err != nil || mn != asc[0] {
				t.Fatalf("Min = %d, %v", mn, err)
			}
		})
	}
}

// A comparison or combiner that panics while the driver merges the tasks'
// results (one element per partition: tasks never call it) gives an error.
func TestPanicInDriverSideMergeIsAnError(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	r := rdd.Parallelize(s, []int64{1, 2}, 2)
	boom := func(a, b int64) int { panic("boom in cmp") }
	calls := map[string]func() error{
		"Max":         func() error { _, err := r.Max(ctx, boom); return err },
		"TakeOrdered": func() error { _, err := r.TakeOrdered(ctx, 1, boom); return err },
		"Reduce":      func() error { _, err := r.Reduce(ctx, func(a, b int64) int64 { panic("boom in reduce") }); return err },
		"Aggregate": func() error {
			_, err := rdd.Aggregate(ctx, r, 0, func(a, x int64) int64 { return a + x }, func(a, b int64) int64 { panic("boom in comb") })
			return err
		},
	}
	for name, call := range calls {
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("%s: a panic escaped: %v", name, v)
				}
			}()
			err = call()
		}()
		var pe *rdd.PanicError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: %v, want a PanicError naming the action", name, err)
		}
	}
}

// cmp may return any negative number for a < b, math.MinInt included.
func TestMinMaxAcceptAnyNegative(t *testing.T) {
	s := newSession(t)
	c := func(a, b int64) int {
		switch {
		case a < b:
			return math.MinInt
		case a > b:
			return math.MaxInt
		}
		return 0
	}
	r := rdd.Parallelize(s, []int64{5, 3, 9, 1, 7}, 2)
	if got, err := r.Min(context.Background(), c); err != nil || got != 1 {
		t.Fatalf("Min = %d, %v; want 1", got, err)
	}
	if got, err := r.Max(context.Background(), c); err != nil || got != 9 {
		t.Fatalf("Max = %d, %v; want 9", got, err)
	}
}

// As Spark, every key and partition starts from its own copy of the zero
// value, which the functions may modify.
func TestZeroValuesAreNotShared(t *testing.T) {
	s := newSession(t)
	type m = map[string]int64
	data := []rdd.Pair[string, m]{{Key: "a", Value: m{"x": 1}}, {Key: "b", Value: m{"y": 1}}, {Key: "a", Value: m{"x": 1}}, {Key: "b", Value: m{"y": 1}}}
	r := rdd.Parallelize(s, data, 2)
	merge := func(acc, v m) m {
		for k, n := range v {
			acc[k] += n
		}
		return acc
	}
	want := map[string]m{"a": {"x": 2}, "b": {"y": 2}}
	for _, p := range collect(t, rdd.FoldByKey(r, m{}, merge, 1)) {
		if !maps.Equal(p.Value, want[p.Key]) {
			t.Fatalf("FoldByKey: key %s = %v, want %v", p.Key, p.Value, want[p.Key])
		}
	}
	for _, p := range collect(t, rdd.AggregateByKey(r, m{}, merge, merge, 2)) {
		if !maps.Equal(p.Value, want[p.Key]) {
			t.Fatalf("AggregateByKey: key %s = %v, want %v", p.Key, p.Value, want[p.Key])
		}
	}
	values := rdd.Values(r)
	total, err := rdd.Aggregate(context.Background(), values, m{}, merge, merge)
	if err != nil || !maps.Equal(total, m{"x": 2, "y": 2}) {
		t.Fatalf("Aggregate = %v, %v; want map[x:2 y:2]", total, err)
	}
}

func TestStatsOfEmpty(t *testing.T) {
	s := newSession(t)
	st, err := rdd.StatsOf(context.Background(), rdd.Parallelize(s, []float64{}, 2))
	if err != nil || st.Count != 0 || !math.IsInf(st.Min, 1) || !math.IsInf(st.Max, -1) || !math.IsNaN(st.Variance()) {
		t.Fatalf("StatsOf(empty) = %+v, %v; want Count 0, Min +Inf, Max -Inf, NaN variance", st, err)
	}
}
