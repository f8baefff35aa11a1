package spill

import (
	"hash/maphash"
	"iter"
	"math/bits"
	"math/rand/v2"
	"unsafe"

	"github.com/ember-go/ember/internal/codec"
)

// Index maps keys to int32s (positions in the caller's arrays) in one
// open-addressing table, with the key in its slot so that a lookup reads
// one place in memory, and an insert finds its slot once. On the
// millions of keys of a reduce partition it does half the work of a Go
// map, which probes once to find a key and again to add it. Its hash is
// seeded afresh for each index, as a Go map's, so that no set of keys
// collides by design. It is not safe for concurrent use.
type Index[K comparable] struct {
	seed  maphash.Seed
	mix   uint64 // the seed of integer keys' hash
	slots []indexSlot[K]
	shift uint // 64 - log2(len(slots))
	n     int
}

// indexSlot is a key and its value, if used.
type indexSlot[K any] struct {
	key  K
	v    int32
	used bool
}

// NewIndex returns an empty index with room for n keys before it grows.
func NewIndex[K comparable](n int) *Index[K] {
	x := &Index[K]{seed: maphash.MakeSeed(), mix: rand.Uint64()}
	x.resize(n)
	return x
}

// Len is the number of keys.
func (x *Index[K]) Len() int { return x.n }

// SlotBytes is the memory the table takes per key, at most, as it grows
// by doubling.
func SlotBytes[K comparable]() int64 { return 8 * int64(unsafe.Sizeof(indexSlot[K]{})) / 3 }

// Get returns k's value, if k is in the index.
func (x *Index[K]) Get(k K) (int32, bool) {
	s := &x.slots[x.find(k)]
	return s.v, s.used
}

// Put returns a pointer to k's value, adding k if it is new (found
// false), in which case the caller sets the value. The pointer is valid
// until the next Put.
func (x *Index[K]) Put(k K) (v *int32, found bool) {
	if 4*(x.n+1) > 3*len(x.slots) {
		x.resize(2 * x.n)
	}
	s := &x.slots[x.find(k)]
	if s.used {
		return &s.v, true
	}
	s.key, s.used = k, true
	x.n++
	return &s.v, false
}

// indexSlots is the size of a table with room for n keys.
func indexSlots(n int) int { return 1 << bits.Len(uint(max(n*4/3, 16))) }

// IndexBytes is the memory an index made for n keys takes.
func IndexBytes[K comparable](n int) int64 {
	return int64(indexSlots(n)) * int64(unsafe.Sizeof(indexSlot[K]{}))
}

// Bytes is the memory the table takes.
func (x *Index[K]) Bytes() int64 { return int64(len(x.slots)) * int64(unsafe.Sizeof(indexSlot[K]{})) }

// All yields the keys and their values, in no particular order.
func (x *Index[K]) All() iter.Seq2[K, int32] {
	return func(yield func(K, int32) bool) {
		for _, s := range x.slots {
			if s.used && !yield(s.key, s.v) {
				return
			}
		}
	}
}

// find returns the slot of key k: the one that holds it, or the empty one
// where it goes.
func (x *Index[K]) find(k K) uint64 {
	mask := uint64(len(x.slots) - 1)
	for j := x.hash(k) >> x.shift; ; j = (j + 1) & mask {
		if s := &x.slots[j]; !s.used || s.key == k {
			return j
		}
	}
}

// hash is k's hash. Integer keys, the most common, take a seeded mix
// (codec.HashWord of the key xor a random seed) at half the cost of
// maphash.Comparable, which serves the others.
func (x *Index[K]) hash(k K) uint64 {
	switch v := any(k).(type) {
	case int64:
		return codec.HashWord(uint64(v) ^ x.mix)
	case int:
		return codec.HashWord(uint64(v) ^ x.mix)
	case int32:
		return codec.HashWord(uint64(v) ^ x.mix)
	case uint64:
		return codec.HashWord(v ^ x.mix)
	case uint32:
		return codec.HashWord(uint64(v) ^ x.mix)
	case string:
		return maphash.String(x.seed, v)
	}
	return maphash.Comparable(x.seed, k)
}

// resize makes room for n keys at most three quarters full (a load at
// which linear probing reads one or two cache lines) and places the keys
// again.
func (x *Index[K]) resize(n int) {
	size := indexSlots(n)
	old := x.slots
	x.slots, x.shift = make([]indexSlot[K], size), uint(64-bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s.used {
			x.slots[x.find(s.key)] = s
		}
	}
}
