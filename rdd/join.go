package rdd

import (
	"github.com/ember-go/ember/internal/spill"
	"github.com/ember-go/ember/task"
)

// joinTable is the build side of a hash join: the values of one reduce
// partition of a join's left side, by key, with no allocation per key.
// An index holds the last value of each key, and each value links to the
// one before it of the same key. A join uses it while the left side fits
// in the task's share of the memory budget, and cogroups (sorting runs by
// key and merging them) once it does not, as Spark's ShuffledHashJoin
// gives way to a sort-merge join.
type joinTable[K comparable, V any] struct {
	index *spill.Index[K]
	rows  []joinRow[V]
	size  *spill.Sizer[V]
	mem   spill.Reservation
}

// joinRow is a value and the one before it of its key, or -1: together,
// so that following a key's values reads one place in memory per value.
type joinRow[V any] struct {
	v    V
	prev int32
}

// maxJoinRows bounds the values of one table: its links are int32.
const maxJoinRows = 1<<31 - 2

// newJoinTable returns an empty table sized for rows values, as the map
// outputs counted them, or nil if the budget does not hold that many: the
// join then cogroups from the start rather than build a table it would
// have to give up.
func newJoinTable[K comparable, V any](tc *task.Context, rows int64) *joinTable[K, V] {
	t := &joinTable[K, V]{size: spill.NewSizer[V](), mem: spill.NewReservation(tc)}
	if rows <= 0 {
		t.index = spill.NewIndex[K](0)
		return t
	}
	need := rows * t.rowBytes(*new(V))
	if rows > maxJoinRows || need > tc.Share() || !t.mem.Try(need) {
		t.release()
		return nil
	}
	t.rows = make([]joinRow[V], 0, rows)
	t.index = spill.NewIndex[K](int(rows))
	return t
}

// rowBytes estimates what one value costs the table: the value, its link,
// and its key's slot.
func (t *joinTable[K, V]) rowBytes(v V) int64 { return t.size.Of(v) + 4 + spill.SlotBytes[K]() }

// add adds a batch of pairs if the budget holds them, and reports whether
// it did: false leaves the table as it was.
func (t *joinTable[K, V]) add(b []Pair[K, V]) bool {
	if len(t.rows)+len(b) > maxJoinRows {
		return false
	}
	var need int64
	for _, kv := range b {
		need += t.rowBytes(kv.Value)
	}
	if !t.mem.Try(need) {
		return false
	}
	for _, kv := range b {
		last, found := t.index.Put(kv.Key)
		if !found {
			*last = -1
		}
		t.rows = append(t.rows, joinRow[V]{kv.Value, *last})
		*last = int32(len(t.rows) - 1)
	}
	return true
}

// last returns the index in rows of key k's last value, or -1 if it has
// none; each row's prev leads to the one before it.
func (t *joinTable[K, V]) last(k K) int32 {
	if i, ok := t.index.Get(k); ok {
		return i
	}
	return -1
}

// drain passes every key and value to f and empties the table. It gives
// back the table's memory first, so that f's structure can take it as the
// table's pairs move there.
func (t *joinTable[K, V]) drain(f func(K, V)) {
	t.release()
	for k, last := range t.index.All() {
		for i := last; i >= 0; i = t.rows[i].prev {
			f(k, t.rows[i].v)
		}
	}
	t.index, t.rows = nil, nil
}

// release gives back what the table holds of the budget.
func (t *joinTable[K, V]) release() { t.mem.Release() }
