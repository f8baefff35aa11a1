// Package dotproduct is Ember's seed example: the dot product of two large
// arrays of float64, computed as Zip → Map (multiply) → Reduce (sum), with
// the element-wise products also saved, partition by partition, as Arrow
// files by the tasks that computed them.
package dotproduct

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ember-go/ember/rdd"
)

// Config says how big a problem to solve.
type Config struct {
	N          int64  // elements per array
	Partitions int    // <= 0: the session's default parallelism
	OutDir     string // where to save the products; "" saves nothing
	Overwrite  bool   // replace OutDir if it exists
	// Input, if set, is a Parquet or Arrow IPC file, or a directory of
	// them (by extension: .parquet, .arrow), whose float64 columns X and Y
	// are the two arrays; N is then ignored, and no plain loop checks the
	// answer.
	Input string
}

// Element is a row of an input file: the i-th elements of both arrays.
type Element struct{ X, Y float64 }

// Result is what Run computed.
type Result struct {
	Dot      float64
	Expected float64 // the same sum, computed by a plain loop
	Saved    string  // the directory of the saved products, if any
	Elapsed  time.Duration
}

// X and Y give the i-th elements of the two arrays. Small integers and
// halves keep every product and partial sum exact in float64, so the
// engine's answer can be checked for equality whatever the partitioning.
func X(i int64) float64 { return float64(i%1000) * 0.5 }
func Y(i int64) float64 { return float64(i%7 + 1) }

// Vectors returns the two arrays as RDDs with the same partitioning.
func Vectors(s *rdd.Session, n int64, partitions int) (x, y *rdd.RDD[float64]) {
	idx := rdd.Range(s, 0, n, partitions)
	return rdd.Map(idx, X), rdd.Map(idx, Y)
}

// Pipeline is the dot product, registered so that cluster executors can
// rebuild it: the program calls rdd.Init first in main.
var Pipeline = rdd.Func(dot)

// Products is the element-wise products of x and y: Zip → Map.
func Products(x, y *rdd.RDD[float64]) *rdd.RDD[float64] {
	return rdd.Map(rdd.Zip(x, y), func(p rdd.Pair[float64, float64]) float64 { return p.Key * p.Value })
}

// Run computes the dot product on s, on any master.
func Run(ctx context.Context, s *rdd.Session, cfg Config) (Result, error) {
	return Pipeline.Run(ctx, s, cfg)
}

func dot(ctx context.Context, s *rdd.Session, cfg Config) (Result, error) {
	start := time.Now()
	var products *rdd.RDD[float64]
	if cfg.Input != "" {
		// The pairs come zipped already, one row each: the file is read
		// once.
		rows, err := readElements(s, cfg.Input)
		if err != nil {
			return Result{}, err
		}
		products = rdd.Map(rows, func(e Element) float64 { return e.X * e.Y })
	} else {
		products = Products(Vectors(s, cfg.N, cfg.Partitions))
	}
	if cfg.OutDir != "" {
		products.Cache() // the sum and the saved files share one computation
	}
	dot, err := products.Reduce(ctx, func(a, b float64) float64 { return a + b })
	if err != nil {
		return Result{}, err
	}
	res := Result{Dot: dot, Expected: dot}
	if cfg.Input == "" {
		res.Expected = Expected(cfg.N)
	}
	if cfg.OutDir != "" {
		var opts []rdd.SaveOption
		if cfg.Overwrite {
			opts = append(opts, rdd.Overwrite())
		}
		if err := products.SaveAsArrow(ctx, cfg.OutDir, opts...); err != nil {
			return Result{}, err
		}
		res.Saved = cfg.OutDir
		products.Unpersist()
	}
	res.Elapsed = time.Since(start)
	if res.Dot != res.Expected {
		return res, fmt.Errorf("dot product is %v, want %v", res.Dot, res.Expected)
	}
	return res, nil
}

// Expected is the dot product computed by a plain loop.
func Expected(n int64) float64 {
	var sum float64
	for i := range n {
		sum += X(i) * Y(i)
	}
	return sum
}

// readElements reads the input file or directory by its extension.
func readElements(s *rdd.Session, path string) (*rdd.RDD[Element], error) {
	probe := path
	if entries, err := os.ReadDir(path); err == nil {
		for _, e := range entries {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), "_") && !strings.HasPrefix(e.Name(), ".") {
				probe = e.Name()
				break
			}
		}
	}
	switch filepath.Ext(probe) {
	case ".parquet":
		return rdd.ParquetFile[Element](s, path), nil
	case ".arrow", ".arrows", ".ipc":
		return rdd.ArrowFile[Element](s, path), nil
	}
	return nil, fmt.Errorf("--input %s: want Parquet (.parquet) or Arrow IPC (.arrow) files with float64 columns X and Y", path)
}
