package rdd

// keyed is a map that remembers the order in which its keys first came.
// Operators that gather by key (ReduceByKey, GroupByKey, Distinct, CoGroup
// and the joins) use it so that their output comes in an order fixed by
// their input, which is read in a fixed order: a partition computed twice
// (recomputed after a loss, or read by both sides of a Zip) is the same
// both times, which iterating a Go map would not give.
type keyed[K comparable, V any] struct {
	index map[K]int
	keys  []K
	vals  []V
}

func newKeyed[K comparable, V any]() *keyed[K, V] {
	return &keyed[K, V]{index: make(map[K]int)}
}

// slot returns the index in vals of k's value, adding k with the zero
// value if it is new.
func (m *keyed[K, V]) slot(k K) (i int, added bool) {
	if i, ok := m.index[k]; ok {
		return i, false
	}
	i = len(m.keys)
	m.index[k] = i
	m.keys = append(m.keys, k)
	var zero V
	m.vals = append(m.vals, zero)
	return i, true
}

// pairs yields the keys and values in the order the keys first came.
func (m *keyed[K, V]) pairs(yield func(Pair[K, V]) bool) {
	for i, k := range m.keys {
		if !yield(Pair[K, V]{k, m.vals[i]}) {
			return
		}
	}
}
