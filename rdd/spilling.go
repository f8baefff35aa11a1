package rdd

import (
	"errors"
	"fmt"

	"github.com/ember-go/ember/internal/bytesize"
	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/internal/spill"
	"github.com/ember-go/ember/task"
)

// newCombiner returns a map of n's task that combines values by key with
// combine, spilling to disk beyond the task's share of memory.
func newCombiner[K comparable, C any](tc *task.Context, n *node, combine func(C, C) C) (*spill.Map[K, C], error) {
	hash, err := codec.Hasher[K]()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n, err)
	}
	guarded := func(a, b C) C {
		defer n.guard()
		return combine(a, b)
	}
	m, err := spill.NewMap(tc, hash, guarded)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n, err)
	}
	return m, nil
}

// combined passes each key of m with its combined value to f, until f
// returns false. count, if set, says how many values a combined value
// holds, for the error of a key too large for memory.
func combined[K comparable, C any](n *node, m *spill.Map[K, C], count func(C) int, f func(K, C) bool) error {
	for e, err := range m.All() {
		if err != nil {
			return keyError[K](n, err, count)
		}
		if !f(e.Key, e.Value) {
			return nil
		}
	}
	return nil
}

// pairBatches yields the pairs of m in batches of out's size.
func pairBatches[K comparable, C any](tc *task.Context, out *RDD[Pair[K, C]], m *spill.Map[K, C], count func(C) int, yield func([]Pair[K, C]) bool) error {
	var err error
	pairs := func(yield func(Pair[K, C]) bool) {
		err = combined(&out.node, m, count, func(k K, c C) bool { return yield(Pair[K, C]{k, c}) })
	}
	if berr := out.batches(tc, pairs, yield); berr != nil {
		return berr
	}
	return err
}

// keyError names n in the error of a key whose values do not fit in
// memory, with how many values it holds.
func keyError[K, C any](n *node, err error, count func(C) int) error {
	var big *spill.TooLargeError[K, C]
	if !errors.As(err, &big) {
		return err
	}
	values := "values"
	if count != nil {
		values = fmt.Sprintf("%d values", count(big.Value))
	}
	return task.Permanent(fmt.Errorf("%s: key %v has %s taking %s, more than fits in the task's share of the memory budget (%s; memory.limit, or the executors' --memory): "+
		"spread the key (salt it) or combine its values (ReduceByKey, AggregateByKey) instead of gathering them: %w",
		n, big.Key, values, bytesize.Format(big.Bytes), bytesize.Format(big.Share), ErrKeyTooLarge))
}

// ErrKeyTooLarge is wrapped by the error of a task whose operator holds one
// key's values at once (GroupByKey, CoGroup, the joins) and finds them
// larger than the task's share of the memory budget.
var ErrKeyTooLarge = errors.New("one key's values exceed the memory budget")
