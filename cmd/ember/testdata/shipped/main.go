// Command shipped is a program that the ember executors were not built
// from: run on a standalone cluster, its binary is shipped to them.
package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/ember-go/ember/rdd"
)

// squares sums the squares of 0..n-1 by residue mod 7, through a shuffle.
var squares = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (map[int64]int64, error) {
	sq := rdd.Map(rdd.Range(s, 0, n, 6), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 7, Value: i * i} })
	return rdd.CollectAsMap(ctx, rdd.ReduceByKey(sq, func(a, b int64) int64 { return a + b }, 3))
})

// joined joins and sorts: a join of two pair RDDs, then SortBy over the
// result, collected in order.
var joined = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([]rdd.Pair[int64, int64], error) {
	a := rdd.Map(rdd.Range(s, 0, n, 4), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 50, Value: i} })
	b := rdd.Map(rdd.Range(s, 0, 100, 3), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i, Value: i * 1000} })
	sums := rdd.MapValues(rdd.Join(a, b, 3), func(v rdd.Pair[int64, int64]) int64 { return v.Key + v.Value })
	return rdd.SortBy(sums, func(p rdd.Pair[int64, int64]) int64 { return p.Value*100 + p.Key }, true, 4).Collect(ctx)
})

// crash exits the worker that runs its task, in every attempt.
var crash = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	return rdd.Map(rdd.Range(s, 0, n, 1), func(i int64) int64 {
		os.Exit(3)
		return i
	}).Count(ctx)
})

func main() {
	rdd.Init()
	// shipped MASTER [MIN-EXECUTORS]
	opts := []rdd.Option{rdd.WithMaster(os.Args[1])}
	if len(os.Args) > 2 {
		opts = append(opts, rdd.WithConf("cluster.minExecutors", os.Args[2]))
	}
	s, err := rdd.NewSession(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	var (
		mu        sync.Mutex
		executors = map[string]bool{}
	)
	s.OnTaskEnd(func(ev rdd.TaskEvent) {
		mu.Lock()
		executors[ev.Executor] = true
		mu.Unlock()
	})
	got, err := squares.Run(context.Background(), s, 10_000)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	want := map[int64]int64{}
	for i := range int64(10_000) {
		want[i%7] += i * i
	}
	mu.Lock()
	fmt.Println("ran on", len(executors), "executors")
	mu.Unlock()
	for k := range int64(7) {
		if got[k] != want[k] {
			fmt.Fprintf(os.Stderr, "residue %d: %d, want %d\n", k, got[k], want[k])
			os.Exit(1)
		}
	}
	fmt.Println("squares by residue: ok")

	// The join and sort give exactly what local mode gives.
	onCluster, err := joined.Run(context.Background(), s, 5_000)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	local, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer local.Close()
	onLocal, err := joined.Run(context.Background(), local, 5_000)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(onCluster) != 5_000 || !slices.Equal(onCluster, onLocal) {
		fmt.Fprintf(os.Stderr, "join and sort: %d pairs on the cluster, %d locally, equal: %v\n", len(onCluster), len(onLocal), slices.Equal(onCluster, onLocal))
		os.Exit(1)
	}
	fmt.Println("join and sort: ok")

	// A task that crashes its worker every time fails after
	// task.maxFailures (4) attempts; the executors start new workers.
	_, err = crash.Run(context.Background(), s, 3)
	if err == nil || !strings.Contains(err.Error(), "failed after 4 attempt(s)") || !strings.Contains(err.Error(), "exit status 3") {
		fmt.Fprintf(os.Stderr, "a task that crashes its worker: %v; want it to fail after 4 attempts, saying how the workers exited\n", err)
		os.Exit(1)
	}
	if again, err := squares.Run(context.Background(), s, 10_000); err != nil || again[3] != want[3] {
		fmt.Fprintf(os.Stderr, "after the crashes: %v, %v\n", again, err)
		os.Exit(1)
	}
	fmt.Println("crashed workers: ok")
}
