// Package logreg fits a logistic regression by gradient descent over a
// cached dataset, the headline workload of the RDD paper: the points are
// cached once, and every iteration maps them to their gradient under the
// current weights and sums it (Map → Reduce), then updates the weights on
// the driver. The next iteration's closure captures the new weights: on a
// cluster, executors rebuild it from the earlier iterations' results.
package logreg

import (
	"context"
	"iter"
	"math"
	"math/rand/v2"

	"github.com/ember-go/ember/rdd"
)

// Config says which dataset to fit and how.
type Config struct {
	Points     int64 // generated points
	Dims       int   // features per point
	Iterations int
	Rate       float64 // the step of gradient descent
	Partitions int     // <= 0: the session's default parallelism
	Seed       uint64
}

// Default is the configuration `ember run logreg` starts from.
func Default() Config {
	return Config{Points: 1_000_000, Dims: 10, Iterations: 10, Rate: 1, Seed: 1}
}

// Point is a labelled example: features X and a label Y of -1 or 1.
type Point struct {
	X []float64
	Y float64
}

// Result is what Run computed.
type Result struct {
	Weights  []float64
	Accuracy float64 // the share of points the weights classify right
}

// Pipeline is the regression, registered so that cluster executors can
// rebuild it.
var Pipeline = rdd.Func(run)

// Run fits the weights on s, on any master.
func Run(ctx context.Context, s *rdd.Session, cfg Config) (Result, error) {
	return Pipeline.Run(ctx, s, cfg)
}

func run(ctx context.Context, s *rdd.Session, cfg Config) (Result, error) {
	parts := cfg.Partitions
	if parts <= 0 {
		parts = s.DefaultParallelism()
	}
	points := rdd.Generate(s, parts, func(p int) iter.Seq[Point] {
		return Points(cfg, p, parts)
	}).Cache()
	defer points.Unpersist()
	w := make([]float64, cfg.Dims)
	add := func(a, b []float64) []float64 {
		out := make([]float64, len(a))
		for i := range a {
			out[i] = a[i] + b[i]
		}
		return out
	}
	for range cfg.Iterations {
		weights := w // this iteration's, captured by its closure
		grad, err := rdd.Map(points, func(p Point) []float64 { return Gradient(weights, p) }).Reduce(ctx, add)
		if err != nil {
			return Result{}, err
		}
		w = Step(w, grad, cfg)
	}
	weights := w
	right, err := points.Filter(func(p Point) bool { return Classify(weights, p) }).Count(ctx)
	if err != nil {
		return Result{}, err
	}
	return Result{Weights: w, Accuracy: float64(right) / float64(max(cfg.Points, 1))}, nil
}

// Points yields partition p of the parts partitions of the dataset: points
// around a hidden hyperplane, a few on the wrong side.
func Points(cfg Config, p, parts int) iter.Seq[Point] {
	return func(yield func(Point) bool) {
		lo, hi := cfg.Points*int64(p)/int64(parts), cfg.Points*int64(p+1)/int64(parts)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(p)))
		hidden := Hidden(cfg)
		for range hi - lo {
			x := make([]float64, cfg.Dims)
			var dot float64
			for i := range x {
				x[i] = rng.NormFloat64()
				dot += x[i] * hidden[i]
			}
			y := 1.0
			if dot < 0 {
				y = -1
			}
			if rng.IntN(20) == 0 {
				y = -y // noise
			}
			if !yield(Point{X: x, Y: y}) {
				return
			}
		}
	}
}

// Hidden is the hyperplane the labels come from.
func Hidden(cfg Config) []float64 {
	rng := rand.New(rand.NewPCG(cfg.Seed, math.MaxUint64))
	h := make([]float64, cfg.Dims)
	for i := range h {
		h[i] = rng.NormFloat64()
	}
	return h
}

// Gradient is the logistic loss's gradient at one point.
func Gradient(w []float64, p Point) []float64 {
	var dot float64
	for i, x := range p.X {
		dot += w[i] * x
	}
	scale := (1/(1+math.Exp(-p.Y*dot)) - 1) * p.Y
	g := make([]float64, len(p.X))
	for i, x := range p.X {
		g[i] = scale * x
	}
	return g
}

// Step moves the weights against the mean gradient.
func Step(w, grad []float64, cfg Config) []float64 {
	out := make([]float64, len(w))
	for i := range w {
		out[i] = w[i] - cfg.Rate*grad[i]/float64(max(cfg.Points, 1))
	}
	return out
}

// Classify reports whether the weights put p on its label's side.
func Classify(w []float64, p Point) bool {
	var dot float64
	for i, x := range p.X {
		dot += w[i] * x
	}
	return (dot >= 0) == (p.Y > 0)
}

// Reference is the regression in plain Go, over the same points, for
// checking: the same weights up to floating-point rounding.
func Reference(cfg Config, parts int) Result {
	var points []Point
	for p := range parts {
		for pt := range Points(cfg, p, parts) {
			points = append(points, pt)
		}
	}
	w := make([]float64, cfg.Dims)
	for range cfg.Iterations {
		grad := make([]float64, cfg.Dims)
		for _, p := range points {
			for i, g := range Gradient(w, p) {
				grad[i] += g
			}
		}
		w = Step(w, grad, cfg)
	}
	right := 0
	for _, p := range points {
		if Classify(w, p) {
			right++
		}
	}
	return Result{Weights: w, Accuracy: float64(right) / float64(max(cfg.Points, 1))}
}
