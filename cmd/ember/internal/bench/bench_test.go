package bench

import (
	"context"
	"os"
	"testing"

	"github.com/ember-go/ember/rdd"
)

func TestMain(m *testing.M) {
	rdd.Init() // the cluster workloads start this test binary as executors
	os.Exit(m.Run())
}

// benchmark runs one workload's engine and baseline as sub-benchmarks, so
// that `go test -bench` prints them side by side.
func benchmark(b *testing.B, name string) {
	ctx := context.Background()
	s, err := rdd.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, err := New(ctx, s, name, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var got any
	b.Run("engine", func(b *testing.B) {
		for b.Loop() {
			if got, err = w.Engine(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	var want any
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			want = w.Baseline()
		}
	})
	if got != nil && want != nil {
		if err := Agree(got, want); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDotProduct(b *testing.B)        { benchmark(b, "dotproduct") }
func BenchmarkDotProductBatches(b *testing.B) { benchmark(b, "dotproduct-batches") }
func BenchmarkWordCount(b *testing.B)         { benchmark(b, "wordcount") }
func BenchmarkSort(b *testing.B)              { benchmark(b, "sort") }
func BenchmarkSortOutOfCore(b *testing.B)     { benchmark(b, "sort-outofcore") }
func BenchmarkJoin(b *testing.B)              { benchmark(b, "join") }
func BenchmarkReduceByKey(b *testing.B)       { benchmark(b, "reducebykey") }
func BenchmarkPageRank(b *testing.B)          { benchmark(b, "pagerank") }
func BenchmarkPageRankShuffled(b *testing.B)  { benchmark(b, "pagerank-shuffled") }
func BenchmarkScanText(b *testing.B)          { benchmark(b, "scan-text") }
func BenchmarkScanCSV(b *testing.B)           { benchmark(b, "scan-csv") }
func BenchmarkScanParquet(b *testing.B)       { benchmark(b, "scan-parquet") }

// TestWorkloadsAgree runs every workload once on small data and checks that
// the engine and the baseline give the same answer.
func TestWorkloadsAgree(t *testing.T) {
	ctx := context.Background()
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sizes := map[string]int64{"dotproduct": 100_003, "dotproduct-batches": 100_003, "wordcount": 1 << 20, "sort": 50_000, "sort-outofcore": 3_000_000, "join": 100_000, "reducebykey": 100_000,
		"pagerank": 5_000, "pagerank-shuffled": 5_000, "scan-text": 1 << 20, "scan-csv": 1 << 20, "scan-parquet": 1 << 20}
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			w, err := New(ctx, s, name, sizes[name])
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := Measure(ctx, w, 1); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// clusterSessions opens a local-cluster[2] and a local[2] session.
func clusterSessions(tb testing.TB) (cluster, local *rdd.Session) {
	tb.Helper()
	var err error
	if cluster, err = rdd.NewSession(rdd.WithMaster("local-cluster[2]")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cluster.Close() })
	if local, err = rdd.NewSession(rdd.WithMaster("local[2]")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { local.Close() })
	return cluster, local
}

// BenchmarkCluster times each cluster workload on local-cluster[2] and
// local[2], best of 3 timed jobs each, and reports them, the plain-Go time
// and the ratio as metrics (ns/op includes preparing the data).
func BenchmarkCluster(b *testing.B) {
	cluster, local := clusterSessions(b)
	for _, name := range ClusterNames {
		b.Run(name, func(b *testing.B) {
			var f ClusterFigure
			for b.Loop() {
				var err error
				if f, err = MeasureCluster(context.Background(), cluster, local, name, 0, 3); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(f.Cluster.Seconds()*1000, "cluster-ms")
			b.ReportMetric(f.Local.Seconds()*1000, "local-ms")
			b.ReportMetric(f.Baseline.Seconds()*1000, "go-ms")
			b.ReportMetric(f.Ratio(), "cluster/local")
		})
	}
}

// TestClusterWorkloadsAgree runs every cluster workload once on small
// data: local-cluster[2], local[2] and plain Go must agree.
func TestClusterWorkloadsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	cluster, local := clusterSessions(t)
	sizes := map[string]int64{"dotproduct": 100_003, "wordcount": 1 << 20, "pagerank": 5_000, "pagerank-shuffled": 5_000}
	for _, name := range ClusterNames {
		t.Run(name, func(t *testing.T) {
			f, err := MeasureCluster(context.Background(), cluster, local, name, sizes[name], 2)
			if err != nil {
				t.Fatal(err)
			}
			if f.Cluster <= 0 || f.Local <= 0 {
				t.Fatalf("figures %+v", f)
			}
		})
	}
}
