package bench

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ember-go/ember/examples/dotproduct"
	"github.com/ember-go/ember/examples/pagerank"
	"github.com/ember-go/ember/examples/wordcount"
	"github.com/ember-go/ember/rdd"
)

// ClusterNames lists the workloads that compare a cluster master with a
// local one.
var ClusterNames = []string{"dotproduct", "wordcount", "pagerank", "pagerank-shuffled", "tasks", "latency"}

// Sizes of the cluster workloads.
const (
	EmptyTasks     = 10_000 // tasks of the scheduler throughput job
	LatencySamples = 50     // one-task jobs timed for the latency
)

// ClusterArgs says which cluster workload to run, on how much data, how
// many times.
type ClusterArgs struct {
	Workload string
	Size     int64 // elements, or bytes of text; 0: the default
	Runs     int
}

// ClusterRun is what one run of a cluster workload measured.
type ClusterRun struct {
	// Times of the timed jobs, in nanoseconds: one per run, or one per
	// job for latency.
	Times []int64
	// Answer is the result of the last timed job, to compare with the
	// plain-Go baseline: a dot product, a word count, or a task count.
	Dot   float64
	Words map[string]int64
	Tasks int64
	Ranks pagerank.Result
	Bytes int64 // data each timed job read, if it matters
}

// Cluster is the pipeline of the cluster benchmarks: it prepares the data
// on the session's executors (cached, as in the local benchmarks), then
// times the workload's job. Being a registered pipeline, it runs on any
// master; comparing local-cluster[2] with local[2] shows what the cluster
// costs.
var Cluster = rdd.Func(func(ctx context.Context, s *rdd.Session, a ClusterArgs) (ClusterRun, error) {
	var out ClusterRun
	var job func(ctx context.Context) error
	switch a.Workload {
	case "dotproduct":
		x, y := dotproduct.Vectors(s, or(a.Size, DefaultElements), 0)
		x.Cache()
		y.Cache()
		// Cached by one job over their Zip, partition p of both vectors
		// is on one executor: filled apart, each lands where a free slot
		// was, and half the time a task would fetch one from the other
		// executor.
		if err := fill(ctx, rdd.Zip(x, y)); err != nil {
			return out, err
		}
		job = func(ctx context.Context) (err error) {
			out.Dot, err = dotproduct.Products(x, y).Reduce(ctx, func(a, b float64) float64 { return a + b })
			return err
		}
	case "wordcount":
		out.Bytes = or(a.Size, DefaultTextBytes)
		lines := wordcount.GenerateText(s, out.Bytes, 0).Cache()
		if err := fill(ctx, lines); err != nil {
			return out, err
		}
		job = func(ctx context.Context) error {
			m, err := rdd.CollectAsMap(ctx, wordcount.ByWord(lines, 0))
			out.Words = m
			return err
		}
	case "pagerank", "pagerank-shuffled":
		cfg := pageRankConfig(or(a.Size, DefaultPages), a.Workload == "pagerank-shuffled")
		links := pagerank.Links(s, cfg)
		if err := fill(ctx, links); err != nil {
			return out, err
		}
		job = func(ctx context.Context) (err error) {
			out.Ranks, err = pagerank.Summarize(ctx, pagerank.Iterate(links, cfg), cfg)
			return err
		}
	case "tasks":
		empty := rdd.Generate(s, EmptyTasks, func(int) iter.Seq[int64] { return func(func(int64) bool) {} })
		job = func(ctx context.Context) (err error) {
			_, err = empty.Count(ctx)
			out.Tasks = EmptyTasks
			return err
		}
	case "latency":
		one := rdd.Parallelize(s, []int64{1}, 1)
		a.Runs = LatencySamples
		job = func(ctx context.Context) (err error) {
			out.Tasks, err = one.Count(ctx)
			return err
		}
	default:
		return out, fmt.Errorf("unknown cluster benchmark %q: want one of %s", a.Workload, strings.Join(ClusterNames, ", "))
	}
	for range max(a.Runs, 1) {
		if !s.OnExecutor() { // executors replay this loop; only the driver times it
			runtime.GC()
		}
		start := time.Now()
		if err := job(ctx); err != nil {
			return out, err
		}
		out.Times = append(out.Times, int64(time.Since(start)))
	}
	return out, nil
})

// fill computes cached RDDs once, so that timed jobs read the cache.
func fill[T any](ctx context.Context, rs ...*rdd.RDD[T]) error {
	for _, r := range rs {
		if _, err := r.Count(ctx); err != nil {
			return err
		}
	}
	return nil
}

// ClusterFigure compares one workload on a cluster master, a local master
// and in plain Go.
type ClusterFigure struct {
	Name                     string
	Cluster, Local, Baseline time.Duration // best of the runs (median for latency)
	Target                   float64       // of Cluster/Local, or as Unit says
	Tasks                    int64         // for the task throughput
}

// MeasureCluster runs workload on both sessions and its plain-Go baseline,
// checks that the answers agree, and returns the figures.
func MeasureCluster(ctx context.Context, cluster, local *rdd.Session, workload string, size int64, runs int) (ClusterFigure, error) {
	f := ClusterFigure{Name: workload}
	a := ClusterArgs{Workload: workload, Size: size, Runs: runs}
	c, err := Cluster.Run(ctx, cluster, a)
	if err != nil {
		return f, fmt.Errorf("%s on %s: %w", workload, cluster.Config().Master, err)
	}
	l, err := Cluster.Run(ctx, local, a)
	if err != nil {
		return f, fmt.Errorf("%s on %s: %w", workload, local.Config().Master, err)
	}
	f.Cluster, f.Local = best(c.Times, workload), best(l.Times, workload)
	var baseline func() error
	switch workload {
	case "dotproduct":
		f.Target = 1.5
		n := or(size, DefaultElements)
		xs, ys := make([]float64, n), make([]float64, n)
		for i := range n {
			xs[i], ys[i] = dotproduct.X(i), dotproduct.Y(i)
		}
		baseline = func() error { return Agree(c.Dot, parallelDot(xs, ys)) }
		if err := Agree(l.Dot, c.Dot); err != nil {
			return f, err
		}
	case "wordcount":
		f.Target = 1.5
		parts := make([][]string, cluster.DefaultParallelism())
		for p := range parts {
			parts[p] = slices.Collect(wordcount.Lines(p, c.Bytes/int64(len(parts))))
		}
		baseline = func() error { return Agree(c.Words, parallelWordCount(parts)) }
		if err := Agree(l.Words, c.Words); err != nil {
			return f, err
		}
	case "pagerank", "pagerank-shuffled":
		f.Target = 2
		cfg := pageRankConfig(or(size, DefaultPages), false)
		plain := pagerank.ReferenceLinks(cfg)
		baseline = func() error { return Agree(c.Ranks, pagerank.ReferenceRanks(plain, cfg)) }
		if err := Agree(l.Ranks, c.Ranks); err != nil {
			return f, err
		}
	case "tasks":
		f.Target, f.Tasks = 5000, EmptyTasks
		baseline = func() error { return Agree(int64(runEmpty(EmptyTasks)), c.Tasks) }
	case "latency":
		f.Target = 10
		baseline = func() error { return Agree(int64(runEmpty(1)), c.Tasks) }
	}
	f.Baseline = time.Duration(1<<63 - 1)
	for range max(runs, 1) {
		start := time.Now()
		if err := baseline(); err != nil {
			return f, fmt.Errorf("%s: engine and baseline disagree: %w", workload, err)
		}
		f.Baseline = min(f.Baseline, time.Since(start))
	}
	return f, nil
}

// Ratio is cluster time over local time.
func (f ClusterFigure) Ratio() float64 { return float64(f.Cluster) / float64(f.Local) }

// Met reports whether the cluster figure meets its target: a ratio for
// the jobs with data, tasks per second for the throughput, milliseconds
// for the latency.
func (f ClusterFigure) Met() bool {
	switch f.Name {
	case "tasks":
		return f.TasksPerSecond() >= f.Target
	case "latency":
		return f.Cluster.Seconds()*1000 <= f.Target
	}
	return f.Ratio() <= f.Target
}

// TasksPerSecond is the cluster's task throughput.
func (f ClusterFigure) TasksPerSecond() float64 { return float64(f.Tasks) / f.Cluster.Seconds() }

// best is the fastest run, or the median one-task job for latency.
func best(times []int64, workload string) time.Duration {
	s := slices.Sorted(slices.Values(times))
	if workload == "latency" {
		return time.Duration(s[len(s)/2])
	}
	return time.Duration(s[0])
}

// runEmpty is the plain-Go baseline of the task benchmarks: n empty tasks
// on a pool of one goroutine per CPU, counted.
func runEmpty(n int) int {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		count int
	)
	tasks := make(chan func(), n)
	for range n {
		tasks <- func() {}
	}
	close(tasks)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tasks {
				t()
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return count
}
