package rdd_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ember-go/ember/rdd"
)

// The seed use case: the dot product of two arrays, as Zip → Map → Reduce.
func Example() {
	ctx := context.Background()
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	x := rdd.Parallelize(s, []float64{1, 2, 3, 4}, 2)
	y := rdd.Parallelize(s, []float64{10, 20, 30, 40}, 2)
	products := rdd.Map(rdd.Zip(x, y), func(p rdd.Pair[float64, float64]) float64 { return p.Key * p.Value })
	dot, err := products.Reduce(ctx, func(a, b float64) float64 { return a + b })
	if err != nil {
		panic(err)
	}
	fmt.Println(dot)
	// Output: 300
}

func ExampleReduceByKey() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	lines := rdd.Parallelize(s, []string{"to be or", "not to be"}, 2)
	words := rdd.FlatMap(lines, strings.Fields)
	ones := rdd.Map(words, func(w string) rdd.Pair[string, int] { return rdd.Pair[string, int]{Key: w, Value: 1} })
	counts := rdd.ReduceByKey(ones, func(a, b int) int { return a + b }, 2)
	sorted := rdd.SortByKey(counts, true, 1)
	got, _ := sorted.Collect(ctx)
	fmt.Println(got)
	// Output: [{be 2} {not 1} {or 1} {to 2}]
}

func ExampleZipBatches() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	x := rdd.Parallelize(s, []float64{1, 2, 3, 4}, 2).Cache()
	y := rdd.Parallelize(s, []float64{10, 20, 30, 40}, 2).Cache()
	// One call per batch: xs and ys are whole slices, read without copying
	// from the Arrow columns of the cached partitions.
	partial := rdd.ZipBatches(x, y, func(xs, ys []float64) []float64 {
		var sum float64
		for i := range xs {
			sum += xs[i] * ys[i]
		}
		return []float64{sum}
	})
	dot, _ := partial.Reduce(ctx, func(a, b float64) float64 { return a + b })
	fmt.Println(dot)
	// Output: 300
}

func ExampleRDD_Lineage() {
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	pairs := rdd.KeyBy(rdd.Range(s, 0, 100, 4), func(x int64) int64 { return x % 10 }).Cache()
	sums := rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 2)
	// Creation sites (file:line) vary; print the operations only.
	for _, line := range strings.Split(strings.TrimSpace(sums.Lineage()), "\n") {
		fmt.Println(line[:strings.Index(line, " at ")] + line[strings.LastIndex(line, " "):])
	}
	// Output:
	// (2) ReduceByKey [3] []
	//  +-(4) KeyBy [2] [MEMORY_ONLY]
	//     |  Range [1] []
}

func ExampleNewBroadcast() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	names := rdd.NewBroadcast(s, map[int64]string{1: "one", 2: "two", 3: "three"})
	got, _ := rdd.Map(rdd.Range(s, 1, 4, 2), func(i int64) string { return names.Value()[i] }).Collect(ctx)
	fmt.Println(got)
	// Output: [one two three]
}

func ExampleNewAccumulator() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	blank := rdd.NewAccumulator[int64](s, "blank lines")
	lines := rdd.Parallelize(s, []string{"a", "", "b", "", ""}, 2)
	_ = lines.Foreach(ctx, func(l string) {
		if l == "" {
			blank.Add(1)
		}
	})
	fmt.Println(blank.Name(), blank.Value())
	// Output: blank lines 3
}

func ExampleRDD_Take() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	squares := rdd.Map(rdd.Range(s, 0, 1_000_000, 100), func(x int64) int64 { return x * x })
	first, _ := squares.Take(ctx, 5) // computes one partition of 100
	fmt.Println(first, slices.Max(first))
	// Output: [0 1 4 9 16] 16
}

func ExampleLeftOuterJoin() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	people := rdd.Parallelize(s, []rdd.Pair[int, string]{{Key: 1, Value: "ada"}, {Key: 2, Value: "grace"}}, 2)
	cities := rdd.Parallelize(s, []rdd.Pair[int, string]{{Key: 1, Value: "london"}}, 1)
	joined, _ := rdd.SortByKey(rdd.LeftOuterJoin(people, cities, 2), true, 1).Collect(ctx)
	for _, p := range joined {
		fmt.Println(p.Key, p.Value.Key, p.Value.Value.Value, p.Value.Value.Valid)
	}
	// Output:
	// 1 ada london true
	// 2 grace  false
}

func ExampleStatsOf() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	st, _ := rdd.StatsOf(ctx, rdd.Parallelize(s, []float64{2, 4, 4, 4, 5, 5, 7, 9}, 3))
	fmt.Println(st.Count, st.Mean, st.Stdev(), st.Min, st.Max)
	// Output: 8 5 2 2 9
}

// Partitioned once and cached, the users are joined with each day's
// visits without being shuffled again: only the visits move.
func ExamplePartitionBy() {
	ctx := context.Background()
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()

	users := rdd.Parallelize(s, []rdd.Pair[int, string]{{Key: 1, Value: "ann"}, {Key: 2, Value: "bob"}, {Key: 3, Value: "cy"}}, 2)
	byID := rdd.PartitionBy(users, rdd.NewHashPartitioner[int](4)).Cache()
	visits := rdd.Parallelize(s, []rdd.Pair[int, string]{{Key: 2, Value: "/home"}, {Key: 3, Value: "/cart"}, {Key: 2, Value: "/pay"}}, 2)
	joined := rdd.Join(byID, visits, 0) // byID's partitioner: only visits is shuffled
	got, _ := rdd.SortByKey(joined, true, 1).Collect(ctx)
	fmt.Println(len(got), got[0].Key, got[2].Value.Key, rdd.PartitionerOf(joined))
	// Output: 3 2 cy HashPartitioner(4)
}
