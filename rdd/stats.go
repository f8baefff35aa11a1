package rdd

import (
	"context"
	"errors"
	"math"
	"slices"

	"github.com/ember-go/ember/task"
)

// Number is a type whose values can be summed and averaged.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// Sum returns the sum of the elements, 0 for an empty RDD.
func Sum[N Number](ctx context.Context, r *RDD[N]) (N, error) {
	return aggregate(ctx, r, "Sum", 0, func(a, x N) N { return a + x }, func(a, b N) N { return a + b })
}

// Stats summarizes numbers, as Spark's StatCounter.
type Stats struct {
	Count    int64
	Mean     float64
	Min, Max float64
	Sum      float64
	M2       float64 // sum of squared deviations from the mean
}

// Variance is the population variance.
func (s Stats) Variance() float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	return s.M2 / float64(s.Count)
}

// SampleVariance is the variance with Bessel's correction.
func (s Stats) SampleVariance() float64 {
	if s.Count < 2 {
		return math.NaN()
	}
	return s.M2 / float64(s.Count-1)
}

// Stdev is the population standard deviation.
func (s Stats) Stdev() float64 { return math.Sqrt(s.Variance()) }

// add counts one value (Welford's update, stable for large counts).
func (s Stats) add(x float64) Stats {
	if s.Count == 0 {
		s.Min, s.Max = x, x
	}
	s.Count++
	s.Sum += x
	d := x - s.Mean
	s.Mean += d / float64(s.Count)
	s.M2 += d * (x - s.Mean)
	s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	return s
}

// merge combines the summaries of two sets of values (Chan et al.).
func (s Stats) merge(o Stats) Stats {
	switch {
	case o.Count == 0:
		return s
	case s.Count == 0:
		return o
	}
	n := s.Count + o.Count
	d := o.Mean - s.Mean
	return Stats{
		Count: n,
		Mean:  s.Mean + d*float64(o.Count)/float64(n),
		Min:   min(s.Min, o.Min),
		Max:   max(s.Max, o.Max),
		Sum:   s.Sum + o.Sum,
		M2:    s.M2 + o.M2 + d*d*float64(s.Count)*float64(o.Count)/float64(n),
	}
}

// StatsOf returns the count, mean, extremes, sum and variance of the
// elements in one pass.
// For no elements, Min is +Inf and Max is -Inf, as in Spark.
func StatsOf[N Number](ctx context.Context, r *RDD[N]) (Stats, error) {
	st, err := aggregate(ctx, r, "StatsOf", Stats{}, func(s Stats, x N) Stats { return s.add(float64(x)) }, Stats.merge)
	if err == nil && st.Count == 0 {
		st.Min, st.Max = math.Inf(1), math.Inf(-1)
	}
	return st, err
}

// Max returns the greatest element by cmp (negative when a < b), or
// ErrEmpty.
func (r *RDD[T]) Max(ctx context.Context, cmp func(a, b T) int) (T, error) {
	return r.extreme(ctx, "Max", cmp, 1)
}

// Min returns the least element by cmp (negative when a < b), or ErrEmpty.
func (r *RDD[T]) Min(ctx context.Context, cmp func(a, b T) int) (T, error) {
	return r.extreme(ctx, "Min", cmp, -1)
}

func (r *RDD[T]) extreme(ctx context.Context, action string, cmp func(a, b T) int, sign int) (T, error) {
	if cmp == nil {
		var zero T
		return zero, actionError(action, r, errors.New("nil comparison function"))
	}
	return r.reduceAction(ctx, action, func(a, b T) T {
		if c := cmp(b, a); (sign > 0 && c > 0) || (sign < 0 && c < 0) {
			return b
		}
		return a
	})
}

// TakeOrdered returns the n least elements by cmp (negative when a < b), in
// order. Each task keeps only its n least, so the driver merges little.
func (r *RDD[T]) TakeOrdered(ctx context.Context, n int, cmp func(a, b T) int) ([]T, error) {
	if cmp == nil {
		return nil, actionError("TakeOrdered", r, errors.New("nil comparison function"))
	}
	if n <= 0 {
		return nil, nil
	}
	least := func(xs []T) []T {
		slices.SortStableFunc(xs, cmp)
		return xs[:min(n, len(xs))]
	}
	parts, err := collectPartitions(ctx, r, "TakeOrdered", func(tc *task.Context, p int, in stream[T]) ([]T, error) {
		var kept []T
		err := in(func(b []T) bool {
			kept = append(kept, b...)
			if len(kept)-n >= max(n, r.batchSize()) { // no overflow for huge n
				kept = slices.Clip(orderedBatch(&r.node, least, kept))
			}
			return true
		})
		return orderedBatch(&r.node, least, kept), err
	})
	if err != nil {
		return nil, err
	}
	var out []T
	err = r.onDriver("TakeOrdered", func() { out = least(slices.Concat(parts...)) })
	return out, err
}

// Top returns the n greatest elements by cmp, greatest first.
func (r *RDD[T]) Top(ctx context.Context, n int, cmp func(a, b T) int) ([]T, error) {
	if cmp == nil {
		return nil, actionError("Top", r, errors.New("nil comparison function"))
	}
	return r.TakeOrdered(ctx, n, func(a, b T) int { return cmp(b, a) })
}

func orderedBatch[T any](n *node, least func([]T) []T, xs []T) []T {
	defer n.guard()
	return least(xs)
}
