package spill

import (
	"cmp"
	"fmt"
	"iter"
	"math"
	"slices"

	"github.com/ember-go/ember/internal/codec"
)

// Map combines values by key when the keys may not fit in memory, as
// Spark's ExternalAppendOnlyMap: it keeps what fits in its task's share of
// the budget, and when the share is used up writes its entries to a run
// file sorted by key hash, then starts afresh. Reading merges the runs by
// hash and combines the values of each key across them. It is not safe
// for concurrent use.
//
// The caller updates values in place: Slot finds a key's value in Vals,
// and Account, called after a batch of updates with the bytes they added,
// may spill, after which the slots found before are void.
type Map[K comparable, C any] struct {
	mem     Reservation
	hash    func(K) uint64
	combine func(C, C) C
	c       *codec.Codec[Entry[K, C]]
	keySize *Sizer[K]
	valSize *Sizer[C]

	// index finds a key's position in keys and vals, until Expect made
	// table, which holds all the keys expected at once, in its place.
	index   map[K]int
	table   *Index[K]
	keys    []K
	vals    []C
	content int64 // bytes the keys and values refer to, as Account was told
	runs    []*run
	// expect is how many elements the caller expects to add (see
	// Expect); probed, how many Slot calls have been made of it.
	expect, probed int
}

// NewMap returns an empty Map that spills through mem, finds keys' runs
// by hash and merges two values of a key with combine. K and C must have
// Arrow codecs.
func NewMap[K comparable, C any](mem Memory, hash func(K) uint64, combine func(C, C) C) (*Map[K, C], error) {
	c, err := codec.For[Entry[K, C]]()
	if err != nil {
		return nil, err
	}
	return &Map[K, C]{mem: NewReservation(mem), hash: hash, combine: combine, c: c,
		keySize: NewSizer[K](), valSize: NewSizer[C](), index: make(map[K]int)}, nil
}

// Expect tells the map that about n elements will be added. If nearly
// all of the first ones are new keys, and the budget grants the room at
// once, the map makes room for n keys rather than growing by doubling,
// which places every key again.
func (m *Map[K, C]) Expect(n int) { m.expect, m.probed = n, 0 }

// expectProbe is how many Slot calls tell whether keys repeat.
const expectProbe = 1 << 16

// Slot returns the index in Vals of k's value, adding k with the zero
// value if it is new. Vals may move only when a key is added: callers
// refresh it then.
func (m *Map[K, C]) Slot(k K) (i int, added bool) {
	if m.table != nil {
		return m.slotInTable(k)
	}
	if m.expect > 0 {
		m.probed++
	}
	if i, ok := m.index[k]; ok {
		return i, false
	}
	// Presizing moves Vals, so it waits for a key to be added.
	if m.expect > 0 && m.probed >= expectProbe && m.settle() {
		return m.slotInTable(k)
	}
	i = len(m.keys)
	m.index[k] = i
	m.add(k)
	return i, true
}

// slotInTable is Slot once the map has its Index.
func (m *Map[K, C]) slotInTable(k K) (i int, added bool) {
	v, found := m.table.Put(k)
	if !found {
		*v = int32(len(m.keys))
		m.add(k)
	}
	return int(*v), !found
}

// settle decides, once the first expectProbe Slot calls are made,
// whether to make room for all the keys Expect announced: if nine in ten
// keys so far were new and the budget grants the room. It reports
// whether it did.
func (m *Map[K, C]) settle() bool {
	presize := len(m.keys) >= m.probed*9/10 && m.expect <= math.MaxInt32 && m.mem.Try(m.presizeBytes(m.expect))
	if presize {
		m.presize(m.expect)
	}
	m.expect = 0
	return presize
}

// add appends new key k and a zero value for it.
func (m *Map[K, C]) add(k K) {
	m.keys = append(m.keys, k)
	var zero C
	m.vals = append(m.vals, zero)
}

// presizeBytes is what presize(n) adds to the map's footprint, at most.
func (m *Map[K, C]) presizeBytes(n int) int64 {
	more := int64(max(n-len(m.keys), 0))
	return IndexBytes[K](n) + more*(m.keySize.fixed+m.valSize.fixed)
}

// presize makes room for n keys in all: the slices grow to n, and the
// Go map gives way to an Index made for n, which finds and adds a key in
// one probe where a Go map looks and then adds. (A Go map cannot be
// grown in place, and an Index that grows by doubling leaves more
// garbage than one: the Index serves only when its size is known.)
func (m *Map[K, C]) presize(n int) {
	more := max(n-len(m.keys), 0)
	m.keys, m.vals = slices.Grow(m.keys, more), slices.Grow(m.vals, more)
	m.table = NewIndex[K](n)
	for i, k := range m.keys {
		v, _ := m.table.Put(k)
		*v = int32(i)
	}
	m.index = nil
}

// Vals returns the values, indexed by Slot.
func (m *Map[K, C]) Vals() []C { return m.vals }

// EntryBytes estimates the bytes a new entry of k and c refers to beyond
// itself (the map counts its own slots: see Account).
func (m *Map[K, C]) EntryBytes(k K, c C) int64 {
	return 2*(m.keySize.Of(k)-m.keySize.fixed) + m.valSize.Of(c) - m.valSize.fixed
}

// footprint is the bytes the map holds: its slices at their capacity, its
// hash index (a key and an int per entry, at most half empty after
// growing, and briefly twice over while it grows), and what the keys and
// values refer to.
func (m *Map[K, C]) footprint() int64 {
	slots := int64(cap(m.keys))*m.keySize.fixed + int64(cap(m.vals))*m.valSize.fixed
	index := int64(len(m.index)) * (m.keySize.fixed + 8 + 1) * 3
	if m.table != nil {
		index = m.table.Bytes()
	}
	return slots + index + m.content
}

// Len is the number of keys in memory.
func (m *Map[K, C]) Len() int { return len(m.keys) }

// Spills is how many runs the map wrote.
func (m *Map[K, C]) Spills() int { return len(m.runs) }

// Account counts n more bytes that the keys and values refer to, after
// updates (EntryBytes of the new entries, and what the updates added to
// values), with what the map's own slots take; if the budget refuses
// them, the map spills its entries to a run.
func (m *Map[K, C]) Account(n int64) error {
	m.content += n
	if m.mem.grow(m.footprint()-m.mem.used) || len(m.keys) == 0 {
		return nil
	}
	return m.spill()
}

// spill writes the entries to a run sorted by key hash and empties the
// map.
func (m *Map[K, C]) spill() error {
	dir, err := m.mem.mem.SpillDir()
	if err != nil {
		return err
	}
	r, disk, err := writeRun(m.c, dir, m.sorted())
	if err != nil {
		return err
	}
	m.mem.mem.AddSpill(m.mem.used, disk)
	m.runs = append(m.runs, r)
	m.index, m.table = make(map[K]int), nil
	m.keys, m.vals, m.content = nil, nil, 0
	m.mem.Release()
	return nil
}

// sorted returns the entries in memory ordered by key hash.
func (m *Map[K, C]) sorted() []Entry[K, C] {
	type hashed struct {
		h uint64
		i int
	}
	order := make([]hashed, len(m.keys))
	for i, k := range m.keys {
		order[i] = hashed{m.hash(k), i}
	}
	slices.SortFunc(order, func(a, b hashed) int { return cmp.Compare(a.h, b.h) })
	out := make([]Entry[K, C], len(order))
	for j, o := range order {
		out[j] = Entry[K, C]{m.keys[o.i], m.vals[o.i]}
	}
	return out
}

// TooLargeError is the error of a key whose values, combined, do not fit
// in the task's share of the budget, though the map spilled all it could.
type TooLargeError[K, C any] struct {
	Key   K
	Value C     // combined so far
	Bytes int64 // what it takes, estimated
	Share int64 // of the budget the task held when refused
}

func (e *TooLargeError[K, C]) Error() string {
	return fmt.Sprintf("the values of one key take %d bytes, more than the task's share of the memory budget (%d bytes)", e.Bytes, e.Share)
}

// All yields every key with its values combined: in the order keys came
// if the map never spilled, else in hash order. A key whose combined
// value does not fit in the budget ends it with a *TooLargeError.
func (m *Map[K, C]) All() iter.Seq2[Entry[K, C], error] {
	return func(yield func(Entry[K, C], error) bool) {
		if len(m.runs) == 0 {
			for i, k := range m.keys {
				if !yield(Entry[K, C]{k, m.vals[i]}, nil) {
					return
				}
			}
			return
		}
		// What is left in memory goes to a run too: the merge then holds
		// only the values of one hash at a time, which it accounts.
		if len(m.keys) > 0 {
			if err := m.spill(); err != nil {
				yield(Entry[K, C]{}, err)
				return
			}
		}
		if err := m.narrow(); err != nil {
			yield(Entry[K, C]{}, err)
			return
		}
		sources := make([]iter.Seq2[[]Entry[K, C], error], 0, len(m.runs))
		for _, r := range m.runs {
			sources = append(sources, readRun(r, m.c))
		}
		for e, err := range m.combined(sources) {
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// combined merges sources sorted by key hash, combining the values of
// equal keys. The values of one hash are held at once, within the budget.
func (m *Map[K, C]) combined(sources []iter.Seq2[[]Entry[K, C], error]) iter.Seq2[Entry[K, C], error] {
	byHash := func(a, b Entry[K, C]) int { return cmp.Compare(m.hash(a.Key), m.hash(b.Key)) }
	return func(yield func(Entry[K, C], error) bool) {
		var (
			group []Entry[K, C] // of the current hash, keys distinct
			sizes []int64
			h     uint64
			held  int64
		)
		flush := func() bool {
			for _, e := range group {
				if !yield(e, nil) {
					return false
				}
			}
			group, sizes = group[:0], sizes[:0]
			m.mem.used -= held
			held = 0
			return true
		}
		for e, err := range merge(sources, byHash) {
			if err != nil {
				yield(Entry[K, C]{}, err)
				return
			}
			if eh := m.hash(e.Key); len(group) == 0 || eh != h {
				if !flush() {
					return
				}
				h = eh
			}
			i := slices.IndexFunc(group, func(g Entry[K, C]) bool { return g.Key == e.Key })
			if i < 0 {
				group = append(group, e)
				sizes = append(sizes, 0)
				i = len(group) - 1
			} else {
				group[i].Value = m.combine(group[i].Value, e.Value)
			}
			// What a key holds is measured exactly: one key's values
			// alone may be what does not fit.
			size := Exact(group[i].Value)
			grew := size - sizes[i]
			sizes[i] = size
			held += grew
			if !m.mem.grow(grew) {
				yield(Entry[K, C]{}, &TooLargeError[K, C]{Key: e.Key, Value: group[i].Value, Bytes: size, Share: m.mem.reserved})
				return
			}
		}
		flush()
	}
}

// narrow merges runs into fewer until at most maxMergeWidth are left.
func (m *Map[K, C]) narrow() (err error) {
	m.runs, err = narrowRuns(m.mem.mem, m.c, m.runs, m.combined)
	return err
}

// Close drops what the map holds: its memory and its run files.
func (m *Map[K, C]) Close() {
	for _, r := range m.runs {
		r.remove()
	}
	m.runs, m.index, m.table, m.keys, m.vals = nil, nil, nil, nil, nil
	m.mem.Release()
}
