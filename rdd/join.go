package rdd

import (
	"math/bits"
	"unsafe"

	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/internal/spill"
	"github.com/ember-go/ember/task"
)

// joinTable is the build side of a hash join: the values of one reduce
// partition of a join's left side, by key, with no allocation per key.
// It is an open-addressing table of the last value of each key, and each
// value links to the one before it of the same key. A join uses it while
// the left side fits in the task's share of the memory budget, and
// cogroups (sorting runs by key and merging them) once it does not, as
// Spark's ShuffledHashJoin gives way to a sort-merge join.
type joinTable[K comparable, V any] struct {
	tc    *task.Context
	hash  func(K) uint64
	slots []joinSlot[K]
	shift uint // 64 - log2(len(slots))
	vals  []V
	prev  []int32 // the value before each of its key, or -1
	size  *spill.Sizer[V]
	// reserved is what the table holds of the budget; used, what it
	// has accounted of it.
	reserved, used int64
}

// joinSlot is a key and 1 + the index of its last value; 0 if empty.
// The key is in the slot so that a lookup reads one place in memory.
type joinSlot[K any] struct {
	key  K
	last int32
}

// maxJoinRows bounds the values of one table: its links are int32.
const maxJoinRows = 1<<31 - 2

// newJoinTable returns an empty table sized for rows values, as the map
// outputs counted them, if the budget holds them.
func newJoinTable[K comparable, V any](tc *task.Context, rows int64) (*joinTable[K, V], error) {
	hash, err := codec.Hasher[K]()
	if err != nil {
		return nil, err
	}
	t := &joinTable[K, V]{tc: tc, hash: hash, size: spill.NewSizer[V]()}
	if rows > 0 && rows <= maxJoinRows && t.reserve(rows*t.rowBytes(*new(V))) {
		t.vals, t.prev = make([]V, 0, rows), make([]int32, 0, rows)
		t.resize(int(rows))
	} else {
		t.resize(1024)
	}
	return t, nil
}

// rowBytes estimates what one value costs the table: the value, its link,
// and up to two slots, as the table grows by doubling.
func (t *joinTable[K, V]) rowBytes(v V) int64 {
	return t.size.Of(v) + 4 + 2*int64(unsafe.Sizeof(joinSlot[K]{}))
}

// add adds a batch of pairs if the budget holds them, and reports whether
// it did: false leaves the table as it was.
func (t *joinTable[K, V]) add(b []Pair[K, V]) bool {
	if len(t.vals)+len(b) > maxJoinRows {
		return false
	}
	var need int64
	for _, kv := range b {
		need += t.rowBytes(kv.Value)
	}
	if !t.reserve(need) {
		return false
	}
	if 4*(len(t.vals)+len(b)) > 3*len(t.slots) {
		t.resize(len(t.vals) + len(b))
	}
	for _, kv := range b {
		slot := &t.slots[t.find(kv.Key)]
		t.prev = append(t.prev, slot.last-1)
		t.vals = append(t.vals, kv.Value)
		slot.key, slot.last = kv.Key, int32(len(t.vals))
	}
	return true
}

// find returns the slot of key k: the one that holds it, or the empty one
// where it goes.
func (t *joinTable[K, V]) find(k K) uint64 {
	mask := uint64(len(t.slots) - 1)
	// Fibonacci hashing spreads the bits the partitioner left alike.
	for j := (t.hash(k) * 0x9E3779B97F4A7C15) >> t.shift; ; j = (j + 1) & mask {
		if s := &t.slots[j]; s.last == 0 || s.key == k {
			return j
		}
	}
}

// last returns the index of key k's last value, or -1 if it has none;
// prev leads from a value to the one before it.
func (t *joinTable[K, V]) last(k K) int32 { return t.slots[t.find(k)].last - 1 }

// resize makes room for n keys at most three quarters full (a load at
// which linear probing still reads one or two cache lines), and places
// the keys again.
func (t *joinTable[K, V]) resize(n int) {
	size := 1 << bits.Len(uint(max(n*4/3, 16)))
	old := t.slots
	t.slots, t.shift = make([]joinSlot[K], size), uint(64-bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s.last != 0 {
			t.slots[t.find(s.key)] = s
		}
	}
}

// drain passes every key and value to f and empties the table.
func (t *joinTable[K, V]) drain(f func(K, V)) {
	for _, s := range t.slots {
		for i := s.last - 1; i >= 0; i = t.prev[i] {
			f(s.key, t.vals[i])
		}
	}
	t.slots, t.vals, t.prev = nil, nil, nil
	t.release()
}

// reserve accounts n more bytes, reserving from the budget what the
// table does not yet hold, and reports whether they fit.
func (t *joinTable[K, V]) reserve(n int64) bool {
	if t.used+n > t.reserved {
		t.reserved += t.tc.Reserve(max(t.used+n-t.reserved, 1<<20, t.reserved/8))
		if t.used+n > t.reserved {
			return false
		}
	}
	t.used += n
	return true
}

// release gives back what the table holds of the budget.
func (t *joinTable[K, V]) release() {
	t.tc.Free(t.reserved)
	t.reserved, t.used = 0, 0
}
