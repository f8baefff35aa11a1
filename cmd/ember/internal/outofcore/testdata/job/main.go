// Command job runs a sort, a join or a group-by over more data than
// its memory holds, and checks the answer without bringing the data to the
// driver. The out-of-core test runs it inside a memory cgroup.
//
//	job MASTER sort|join|group N
package main

import (
	"context"
	"fmt"
	"iter"
	"os"
	"strconv"

	"github.com/ember-go/ember/rdd"
)

// scramble maps 0..n-1 onto itself in a scattered order (n prime to the
// multiplier).
func scramble(i, n int64) int64 { return (i * 7_919) % n }

// span is what a partition of a sorted RDD holds: its first and last
// values, how many, their sum, and whether they were in order.
type span struct {
	Part        int
	First, Last int64
	Count, Sum  int64
	InOrder     bool
}

var sortJob = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([]span, error) {
	xs := rdd.Map(rdd.Range(s, 0, n, 8), func(i int64) int64 { return scramble(i, n) })
	sorted := rdd.SortBy(xs, func(x int64) int64 { return x }, true, 8)
	return rdd.MapPartitions(sorted, func(p int, in iter.Seq[int64]) iter.Seq[span] {
		return func(yield func(span) bool) {
			sp := span{Part: p, InOrder: true}
			for x := range in {
				if sp.Count == 0 {
					sp.First = x
				} else if x < sp.Last {
					sp.InOrder = false
				}
				sp.Last = x
				sp.Count++
				sp.Sum += x
			}
			yield(sp)
		}
	}).Collect(ctx)
})

var joinJob = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([2]int64, error) {
	a := rdd.Map(rdd.Range(s, 0, n, 8), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i, Value: i} })
	b := rdd.Map(rdd.Range(s, 0, n, 8), func(i int64) rdd.Pair[int64, int64] {
		return rdd.Pair[int64, int64]{Key: scramble(i, n), Value: 1}
	})
	joined := rdd.Join(a, b, 8)
	// One pass over the join counts its pairs and sums their values.
	return rdd.Aggregate(ctx, joined, [2]int64{},
		func(acc [2]int64, kv rdd.Pair[int64, rdd.Pair[int64, int64]]) [2]int64 {
			return [2]int64{acc[0] + 1, acc[1] + kv.Value.Key + kv.Value.Value}
		},
		func(x, y [2]int64) [2]int64 { return [2]int64{x[0] + y[0], x[1] + y[1]} })
})

var groupJob = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([2]int64, error) {
	pairs := rdd.Map(rdd.Range(s, 0, n, 8), func(i int64) rdd.Pair[int64, int64] {
		return rdd.Pair[int64, int64]{Key: scramble(i, n) % (n / 16), Value: i}
	})
	groups := rdd.GroupByKey(pairs, 8)
	sizes := rdd.Map(groups, func(g rdd.Pair[int64, []int64]) int64 { return int64(len(g.Value)) })
	count, err := rdd.Sum(ctx, sizes)
	if err != nil {
		return [2]int64{}, err
	}
	keys, err := groups.Count(ctx)
	return [2]int64{count, keys}, err
})

func main() {
	rdd.Init()
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: job MASTER sort|join|group N")
		os.Exit(2)
	}
	n, err := strconv.ParseInt(os.Args[3], 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := rdd.NewSession(rdd.WithMaster(os.Args[1]), rdd.WithConf("ui.port", "-1"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	if err := run(s, os.Args[2], n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		s.Close()
		os.Exit(1)
	}
}

func run(s *rdd.Session, job string, n int64) error {
	ctx := context.Background()
	sum := n * (n - 1) / 2
	switch job {
	case "sort":
		spans, err := sortJob.Run(ctx, s, n)
		if err != nil {
			return err
		}
		var count, total, last int64 = 0, 0, -1
		for _, sp := range spans {
			if sp.Count == 0 {
				continue
			}
			if !sp.InOrder || sp.First < last {
				return fmt.Errorf("sort: partition %d out of order", sp.Part)
			}
			count, total, last = count+sp.Count, total+sp.Sum, sp.Last
		}
		if count != n || total != sum {
			return fmt.Errorf("sort: %d elements summing to %d, want %d and %d", count, total, n, sum)
		}
	case "join":
		got, err := joinJob.Run(ctx, s, n)
		if err != nil {
			return err
		}
		if got != [2]int64{n, sum + n} {
			return fmt.Errorf("join: %d pairs summing to %d, want %d and %d", got[0], got[1], n, sum+n)
		}
	case "group":
		got, err := groupJob.Run(ctx, s, n)
		if err != nil {
			return err
		}
		if got != [2]int64{n, n / 16} {
			return fmt.Errorf("group: %d values in %d groups, want %d in %d", got[0], got[1], n, n/16)
		}
	default:
		return fmt.Errorf("unknown job %q", job)
	}
	fmt.Println(job, "ok")
	return nil
}
