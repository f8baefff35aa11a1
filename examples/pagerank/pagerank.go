// Package pagerank ranks the pages of a generated link graph with PageRank,
// the iterative workload of the RDD paper: the links are hash-partitioned
// by page and cached once, and every iteration joins them with the current
// ranks, sends each page's rank to its neighbours (FlatMap) and sums what
// every page receives (ReduceByKey). The sums come out of ReduceByKey
// partitioned as the links are, so the join needs no shuffle: each
// iteration shuffles only the contributions, never the links. On a cluster
// the cached links stay on the executors that computed them; a lost
// executor's share is recomputed from lineage.
//
// As in the RDD paper's version, a page that no page links to drops out
// after the first iteration, so the ranks sum to less than the page count.
package pagerank

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ember-go/ember/rdd"
)

// Config says which graph to rank and how.
type Config struct {
	Pages      int64 // pages of the generated graph
	Links      int   // out-links per page
	Iterations int
	Partitions int // <= 0: the session's default parallelism
	Seed       uint64
	Top        int // how many of the best-ranked pages to return
	// ShuffleLinks leaves the links without a partitioner, so that every
	// iteration's join shuffles them again: PageRank as written without
	// partitioners, for comparison.
	ShuffleLinks bool
}

// Default is the configuration `ember run pagerank` starts from.
func Default() Config {
	return Config{Pages: 100_000, Links: 8, Iterations: 10, Seed: 1, Top: 10}
}

// Rank is a page and its rank.
type Rank = rdd.Pair[int64, float64]

// Result is what Run computed.
type Result struct {
	Top   []Rank  // the best-ranked pages, best first
	Total float64 // the sum of all ranks
}

// Damping is the probability of following a link rather than jumping.
const Damping = 0.85

// Pipeline is PageRank, registered so that cluster executors can rebuild
// it.
var Pipeline = rdd.Func(run)

// Run ranks the graph on s, on any master.
func Run(ctx context.Context, s *rdd.Session, cfg Config) (Result, error) {
	return Pipeline.Run(ctx, s, cfg)
}

func run(ctx context.Context, s *rdd.Session, cfg Config) (Result, error) {
	links := Links(s, cfg)
	defer links.Unpersist()
	return Summarize(ctx, Iterate(links, cfg), cfg)
}

// Links is the link graph of cfg, cached: each page with the pages it
// links to, hash-partitioned by page unless cfg.ShuffleLinks.
func Links(s *rdd.Session, cfg Config) *rdd.RDD[rdd.Pair[int64, []int64]] {
	pages := rdd.Range(s, 0, cfg.Pages, cfg.Partitions)
	links := rdd.Map(pages, func(p int64) rdd.Pair[int64, []int64] {
		return rdd.Pair[int64, []int64]{Key: p, Value: OutLinks(cfg, p)}
	})
	if !cfg.ShuffleLinks {
		links = rdd.PartitionBy(links, rdd.NewHashPartitioner[int64](pages.NumPartitions()))
	}
	return links.Cache()
}

// Iterate returns the ranks after cfg.Iterations iterations over links.
func Iterate(links *rdd.RDD[rdd.Pair[int64, []int64]], cfg Config) *rdd.RDD[Rank] {
	ranks := rdd.MapValues(links, func([]int64) float64 { return 1 })
	for range cfg.Iterations {
		contribs := rdd.FlatMap(rdd.Join(links, ranks, 0), func(p rdd.Pair[int64, rdd.Pair[[]int64, float64]]) []Rank {
			out := make([]Rank, len(p.Value.Key))
			share := p.Value.Value / float64(len(p.Value.Key))
			for i, q := range p.Value.Key {
				out[i] = Rank{Key: q, Value: share}
			}
			return out
		})
		sums := rdd.ReduceByKey(contribs, func(a, b float64) float64 { return a + b }, links.NumPartitions())
		ranks = rdd.MapValues(sums, func(sum float64) float64 { return 1 - Damping + Damping*sum })
	}
	return ranks
}

// Summarize computes the best-ranked pages and the sum of the ranks.
func Summarize(ctx context.Context, ranks *rdd.RDD[Rank], cfg Config) (Result, error) {
	top, err := ranks.TakeOrdered(ctx, cfg.Top, byRank)
	if err != nil {
		return Result{}, err
	}
	total, err := rdd.Sum(ctx, rdd.Values(ranks))
	return Result{Top: top, Total: total}, err
}

// byRank orders ranks best first, then by page.
func byRank(a, b Rank) int { return cmp.Or(cmp.Compare(b.Value, a.Value), cmp.Compare(a.Key, b.Key)) }

// OutLinks returns the distinct pages that page p links to.
func OutLinks(cfg Config, p int64) []int64 {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(p)))
	out := make([]int64, 0, cfg.Links)
	for len(out) < min(cfg.Links, int(cfg.Pages)-1) {
		// A skew towards low page numbers makes some pages popular.
		q := int64(float64(cfg.Pages) * rng.Float64() * rng.Float64())
		if q != p && !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// Reference is PageRank in plain Go, for checking: the same ranks up to
// floating-point rounding. Pages nobody links to drop out after the first
// iteration, as in the engine's version.
func Reference(cfg Config) Result { return ReferenceRanks(ReferenceLinks(cfg), cfg) }

// ReferenceLinks is the link graph of cfg in plain Go: the out-links of
// page p at index p.
func ReferenceLinks(cfg Config) [][]int64 {
	links := make([][]int64, cfg.Pages)
	for p := range cfg.Pages {
		links[p] = OutLinks(cfg, p)
	}
	return links
}

// ReferenceRanks is Reference over links made by ReferenceLinks.
func ReferenceRanks(links [][]int64, cfg Config) Result {
	ranks := make(map[int64]float64, len(links))
	for p := range int64(len(links)) {
		ranks[p] = 1
	}
	for range cfg.Iterations {
		sums := make(map[int64]float64, len(ranks))
		for p, r := range ranks {
			for _, q := range links[p] {
				sums[q] += r / float64(len(links[p]))
			}
		}
		ranks = make(map[int64]float64, len(sums))
		for q, sum := range sums {
			ranks[q] = 1 - Damping + Damping*sum
		}
	}
	var res Result
	all := make([]Rank, 0, len(ranks))
	for p, r := range ranks {
		all = append(all, Rank{Key: p, Value: r})
		res.Total += r
	}
	slices.SortFunc(all, byRank)
	res.Top = all[:min(cfg.Top, len(all))]
	return res
}

// Close reports whether two results agree up to floating-point rounding:
// the same pages in the same order, ranks and totals within a relative
// 1e-9.
func (r Result) Close(o Result) bool {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }
	if len(r.Top) != len(o.Top) || !near(r.Total, o.Total) {
		return false
	}
	for i := range r.Top {
		if r.Top[i].Key != o.Top[i].Key || !near(r.Top[i].Value, o.Top[i].Value) {
			return false
		}
	}
	return true
}
