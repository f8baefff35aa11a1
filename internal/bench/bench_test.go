package bench

import (
	"context"
	"testing"

	"github.com/ember-go/ember/rdd"
)

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
	sizes := map[string]int64{"dotproduct": 100_003, "dotproduct-batches": 100_003, "wordcount": 1 << 20, "sort": 50_000,
		"scan-text": 1 << 20, "scan-csv": 1 << 20, "scan-parquet": 1 << 20}
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
