package dotproduct_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/ember-go/ember/examples/dotproduct"
	"github.com/ember-go/ember/rdd"
)

func TestRunSavesProductsPerPartition(t *testing.T) {
	s, err := rdd.NewSession(rdd.WithMaster("local[3]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n, parts = 100_001, 7
	dir := filepath.Join(t.TempDir(), "products")
	res, err := dotproduct.Run(context.Background(), s, dotproduct.Config{N: n, Partitions: parts, OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dot != dotproduct.Expected(n) {
		t.Fatalf("dot = %v, want %v", res.Dot, dotproduct.Expected(n))
	}
	// Every part file holds the products of its partition, in order.
	var i int64
	for p := range parts {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("part-%05d.arrow", p)))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := ipc.NewFileReader(f)
		if err != nil {
			t.Fatal(err)
		}
		for r := range rd.NumRecords() {
			rec, err := rd.Record(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range rec.Column(0).(*array.Float64).Float64Values() {
				if want := dotproduct.X(i) * dotproduct.Y(i); v != want {
					t.Fatalf("product %d is %v, want %v", i, v, want)
				}
				i++
			}
		}
		rd.Close()
		f.Close()
	}
	if i != n {
		t.Fatalf("the parts hold %d products, want %d", i, n)
	}
	if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Fatal(err)
	}
}

func ExampleRun() {
	s, _ := rdd.NewSession(rdd.WithMaster("local[2]"))
	defer s.Close()
	res, err := dotproduct.Run(context.Background(), s, dotproduct.Config{N: 1000, Partitions: 4})
	fmt.Println(res.Dot, err)
	// Output: 999502 <nil>
}

func TestInputFiles(t *testing.T) {
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 10_007
	elems := rdd.Map(rdd.Range(s, 0, n, 3), func(i int64) dotproduct.Element {
		return dotproduct.Element{X: dotproduct.X(i), Y: dotproduct.Y(i)}
	})
	dir := t.TempDir()
	if err := elems.SaveAsParquet(ctx, filepath.Join(dir, "parquet")); err != nil {
		t.Fatal(err)
	}
	if err := elems.SaveAsArrow(ctx, filepath.Join(dir, "arrow")); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"parquet", "arrow"} {
		res, err := dotproduct.Run(ctx, s, dotproduct.Config{Input: filepath.Join(dir, in)})
		if err != nil || res.Dot != dotproduct.Expected(n) {
			t.Errorf("--input %s: %v, %v; want %v", in, res.Dot, err, dotproduct.Expected(n))
		}
	}
	if _, err := dotproduct.Run(ctx, s, dotproduct.Config{Input: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing input was accepted")
	}
}
