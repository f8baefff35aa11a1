// Command shipped is a program that the ember executors were not built
// from: run on a standalone cluster, its binary is shipped to them.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/ember-go/ember/rdd"
)

// squares sums the squares of 0..n-1 by residue mod 7, through a shuffle.
var squares = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (map[int64]int64, error) {
	sq := rdd.Map(rdd.Range(s, 0, n, 6), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 7, Value: i * i} })
	return rdd.CollectAsMap(ctx, rdd.ReduceByKey(sq, func(a, b int64) int64 { return a + b }, 3))
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
}
