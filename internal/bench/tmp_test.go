package bench

import (
	"context"
	"testing"

	"github.com/ember-go/ember/examples/dotproduct"
	"github.com/ember-go/ember/rdd"
)

func BenchmarkPieces(b *testing.B) {
	ctx := context.Background()
	s, _ := rdd.NewSession()
	defer s.Close()
	x, y := dotproduct.Vectors(s, 10_000_000, 0)
	x.Cache()
	y.Cache()
	x.Count(ctx)
	y.Count(ctx)
	sum := func(a, b float64) float64 { return a + b }
	b.Run("count-x", func(b *testing.B) {
		for b.Loop() {
			x.Count(ctx)
		}
	})
	b.Run("reduce-x", func(b *testing.B) {
		for b.Loop() {
			x.Reduce(ctx, sum)
		}
	})
	b.Run("map-reduce-x", func(b *testing.B) {
		for b.Loop() {
			rdd.Map(x, func(v float64) float64 { return v * 2 }).Reduce(ctx, sum)
		}
	})
	b.Run("zip-count", func(b *testing.B) {
		for b.Loop() {
			rdd.Zip(x, y).Count(ctx)
		}
	})
	b.Run("zip-map-count", func(b *testing.B) {
		for b.Loop() {
			rdd.Map(rdd.Zip(x, y), func(p rdd.Pair[float64, float64]) float64 { return p.Key * p.Value }).Count(ctx)
		}
	})
	b.Run("zip-map-reduce", func(b *testing.B) {
		for b.Loop() {
			rdd.Map(rdd.Zip(x, y), func(p rdd.Pair[float64, float64]) float64 { return p.Key * p.Value }).Reduce(ctx, sum)
		}
	})
}
