// Package bench holds Ember's benchmark workloads, each beside a
// hand-written Go baseline doing the same work on the same data. Both the
// `go test -bench` benchmarks and `ember bench` run them, so the figures of
// the two agree.
package bench

import (
	"context"
	"fmt"
	"maps"
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

// Workload is one benchmark: the engine's way and a plain-Go baseline of
// the same computation, on data prepared once by its constructor.
type Workload struct {
	Name string
	// Target is the highest acceptable engine/baseline time ratio; 0 means
	// the ratio is only reported.
	Target float64
	// Engine runs the computation on the session and returns its answer.
	Engine func(ctx context.Context) (any, error)
	// Baseline runs the same computation with plain Go over all cores.
	Baseline func() any
	// Close drops what the constructor cached.
	Close func()
	// Bytes, if set, is the size of the data read, for a throughput.
	Bytes int64
}

// Names lists the workloads New knows.
var Names = []string{"dotproduct", "dotproduct-batches", "wordcount", "sort", "sort-outofcore", "join", "reducebykey", "pagerank", "pagerank-shuffled", "scan-text", "scan-csv", "scan-parquet"}

// Default sizes, as the benchmark figures in docs/benchmarks.md use them.
const (
	DefaultElements  = 10_000_000
	DefaultTextBytes = 100 << 20
)

// New prepares a workload by name; size is elements, or bytes of text for
// wordcount (0 means the default).
func New(ctx context.Context, s *rdd.Session, name string, size int64) (*Workload, error) {
	switch name {
	case "dotproduct":
		return DotProduct(ctx, s, or(size, DefaultElements), false)
	case "dotproduct-batches":
		return DotProduct(ctx, s, or(size, DefaultElements), true)
	case "wordcount":
		return WordCount(ctx, s, or(size, DefaultTextBytes))
	case "sort":
		return Sort(ctx, s, or(size, DefaultSortElements))
	case "sort-outofcore":
		return SortOutOfCore(ctx, or(size, DefaultElements))
	case "join":
		return Join(ctx, s, or(size, DefaultJoinKeys))
	case "reducebykey":
		return ReduceByKey(ctx, s, or(size, DefaultReduceKeys), or(size, DefaultReduceKeys))
	case "pagerank", "pagerank-shuffled":
		return PageRank(ctx, s, or(size, DefaultPages), name == "pagerank-shuffled")
	case "scan-text", "scan-csv", "scan-parquet":
		return Scan(ctx, s, strings.TrimPrefix(name, "scan-"), or(size, DefaultScanBytes))
	}
	return nil, fmt.Errorf("unknown benchmark %q: want one of %s", name, strings.Join(Names, ", "))
}

func or(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// DotProduct is the seed workload over two cached RDDs of n float64s:
// Zip → Map → Reduce with one closure call per element, or, with batches,
// ZipBatches over zero-copy Arrow columns → Reduce.
func DotProduct(ctx context.Context, s *rdd.Session, n int64, batches bool) (*Workload, error) {
	x, y := dotproduct.Vectors(s, n, 0)
	x.Cache()
	y.Cache()
	xs, err := x.Collect(ctx) // also fills the cache
	if err != nil {
		return nil, err
	}
	ys, err := y.Collect(ctx)
	if err != nil {
		return nil, err
	}
	sum := func(a, b float64) float64 { return a + b }
	w := &Workload{
		Name:   "dotproduct",
		Target: 5,
		Engine: func(ctx context.Context) (any, error) {
			return dotproduct.Products(x, y).Reduce(ctx, sum)
		},
		Baseline: func() any { return parallelDot(xs, ys) },
		Close:    func() { x.Unpersist(); y.Unpersist() },
	}
	if batches {
		w.Name, w.Target = "dotproduct-batches", 1.5
		w.Engine = func(ctx context.Context) (any, error) {
			partial := rdd.ZipBatches(x, y, func(a, b []float64) []float64 {
				var s float64
				for i := range a {
					s += a[i] * b[i]
				}
				return []float64{s}
			})
			return partial.Reduce(ctx, sum)
		}
	}
	return w, nil
}

// parallelDot is the hand-written baseline: one goroutine per CPU, each
// summing its share.
func parallelDot(xs, ys []float64) float64 {
	parts := runtime.GOMAXPROCS(0)
	sums := make([]float64, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, hi := p*len(xs)/parts, (p+1)*len(xs)/parts
			a, b := xs[lo:hi], ys[lo:hi]
			var s float64
			for i := range a {
				s += a[i] * b[i]
			}
			sums[p] = s
		}()
	}
	wg.Wait()
	var total float64
	for _, s := range sums {
		total += s
	}
	return total
}

// WordCount counts the words of about size bytes of generated text, cached
// as lines: FlatMap → Map → ReduceByKey → Collect, against goroutines that
// count into private maps and merge them.
func WordCount(ctx context.Context, s *rdd.Session, size int64) (*Workload, error) {
	lines := wordcount.GenerateText(s, size, 0).Cache()
	if _, err := lines.Count(ctx); err != nil {
		return nil, err
	}
	parts := make([][]string, lines.NumPartitions())
	perPart := size / int64(len(parts))
	for p := range parts {
		parts[p] = slices.Collect(wordcount.Lines(p, perPart))
	}
	return &Workload{
		Name:   "wordcount",
		Target: 2,
		Engine: func(ctx context.Context) (any, error) {
			counts, err := wordcount.ByWord(lines, 0).Collect(ctx)
			if err != nil {
				return nil, err
			}
			m := make(map[string]int64, len(counts))
			for _, c := range counts {
				m[c.Key] = c.Value
			}
			return m, nil
		},
		Baseline: func() any { return parallelWordCount(parts) },
		Close:    lines.Unpersist,
	}, nil
}

func parallelWordCount(parts [][]string) map[string]int64 {
	locals := make([]map[string]int64, len(parts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for p, lines := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m := make(map[string]int64)
			for _, l := range lines {
				for _, w := range strings.Fields(l) {
					m[w]++
				}
			}
			locals[p] = m
		}()
	}
	wg.Wait()
	total := make(map[string]int64)
	for _, m := range locals {
		for w, c := range m {
			total[w] += c
		}
	}
	return total
}

// Sort sorts n random int64s: SortBy on a cached RDD, then Collect, against
// a hand-written parallel sort of a copy.
func Sort(ctx context.Context, s *rdd.Session, n int64) (*Workload, error) {
	data := randomInts(n, 1)
	r := rdd.Parallelize(s, data, 0).Cache()
	if _, err := r.Count(ctx); err != nil {
		return nil, err
	}
	return &Workload{
		Name: "sort",
		Engine: func(ctx context.Context) (any, error) {
			return rdd.SortBy(r, func(x int64) int64 { return x }, true, 0).Collect(ctx)
		},
		Baseline: func() any { return parallelSort(data) },
		Target:   1.3,
		Close:    r.Unpersist,
	}, nil
}

// DefaultPages is the size of the PageRank graphs.
const DefaultPages = 100_000

// PageRankIterations is how many iterations a PageRank run times.
const PageRankIterations = 10

// pageRankConfig is the graph of the PageRank benchmarks.
func pageRankConfig(pages int64, shuffleLinks bool) pagerank.Config {
	cfg := pagerank.Default()
	cfg.Pages, cfg.Iterations, cfg.ShuffleLinks = pages, PageRankIterations, shuffleLinks
	return cfg
}

// PageRank runs PageRankIterations iterations over a graph of pages whose
// links the constructor cached: hash-partitioned, so that each iteration
// shuffles only the ranks' contributions, or with shuffleLinks left
// unpartitioned, so that each iteration's join shuffles the links again.
// The baseline iterates over the same links in plain Go maps.
func PageRank(ctx context.Context, s *rdd.Session, pages int64, shuffleLinks bool) (*Workload, error) {
	cfg := pageRankConfig(pages, shuffleLinks)
	links := pagerank.Links(s, cfg)
	if _, err := links.Count(ctx); err != nil {
		return nil, err
	}
	plain := pagerank.ReferenceLinks(cfg)
	name := "pagerank"
	if shuffleLinks {
		name = "pagerank-shuffled"
	}
	return &Workload{
		Name: name,
		Engine: func(ctx context.Context) (any, error) {
			return pagerank.Summarize(ctx, pagerank.Iterate(links, cfg), cfg)
		},
		Baseline: func() any { return pagerank.ReferenceRanks(plain, cfg) },
		Close:    links.Unpersist,
	}, nil
}

// Figure is one measured workload.
type Figure struct {
	Name             string
	Engine, Baseline time.Duration // best of the runs
	Target           float64
	Bytes            int64 // data read by each run, if known
}

// Throughput returns the engine's and the baseline's MB/s, if Bytes is set.
func (f Figure) Throughput() (engine, baseline float64) {
	mb := float64(f.Bytes) / (1 << 20)
	return mb / f.Engine.Seconds(), mb / f.Baseline.Seconds()
}

// Ratio is engine time over baseline time.
func (f Figure) Ratio() float64 { return float64(f.Engine) / float64(f.Baseline) }

// Measure runs the workload's engine and baseline runs times each,
// alternating, checks that they agree, and keeps the best time of each.
func Measure(ctx context.Context, w *Workload, runs int) (Figure, error) {
	f := Figure{Name: w.Name, Target: w.Target, Bytes: w.Bytes, Engine: time.Duration(1<<63 - 1), Baseline: time.Duration(1<<63 - 1)}
	for range max(runs, 1) {
		runtime.GC()
		start := time.Now()
		got, err := w.Engine(ctx)
		if err != nil {
			return f, err
		}
		f.Engine = min(f.Engine, time.Since(start))
		runtime.GC()
		start = time.Now()
		want := w.Baseline()
		f.Baseline = min(f.Baseline, time.Since(start))
		if err := Agree(got, want); err != nil {
			return f, fmt.Errorf("%s: engine and baseline disagree: %w", w.Name, err)
		}
	}
	return f, nil
}

// Agree checks that an engine answer equals the baseline's.
func Agree(got, want any) error {
	switch w := want.(type) {
	case float64:
		if g, ok := got.(float64); !ok || g != w {
			return fmt.Errorf("got %v, want %v", got, w)
		}
	case map[string]int64:
		if g, ok := got.(map[string]int64); !ok || !maps.Equal(g, w) {
			return fmt.Errorf("word counts differ")
		}
	case []int64:
		if g, ok := got.([]int64); !ok || !slices.Equal(g, w) {
			return fmt.Errorf("sorted output differs")
		}
	case int64:
		if g, ok := got.(int64); !ok || g != w {
			return fmt.Errorf("got %v, want %v", got, w)
		}
	case pagerank.Result:
		if g, ok := got.(pagerank.Result); !ok || !g.Close(w) {
			return fmt.Errorf("got ranks %v, want %v", got, w)
		}
	default:
		return fmt.Errorf("unexpected baseline answer %T", want)
	}
	return nil
}
