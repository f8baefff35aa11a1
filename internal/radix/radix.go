// Package radix sorts elements by an unsigned 64-bit key held in their
// first word, in linear time: a least-significant-digit radix sort, which
// on integer keys does a fraction of the work of a comparison sort.
package radix

import "unsafe"

// Sort sorts xs by key(x) = w ^ mask ascending, where w is the uint64 that
// starts x in memory, and returns the sorted slice, which is xs or
// scratch. Elements of equal key keep their order. scratch must be at least
// as long as xs; T must start with an 8-byte, 8-aligned field (an int64,
// a uint64, or a struct whose first field is one), which the caller
// checks. The mask turns other orders into an unsigned one: 1<<63 orders
// signed integers, all ones reverses the order.
func Sort[T any](xs, scratch []T, mask uint64) []T {
	if len(xs) < 2 {
		return xs
	}
	var counts [8][256]int
	for i := range xs {
		k := word(&xs[i]) ^ mask
		for d := range 8 {
			counts[d][byte(k>>(8*d))]++
		}
	}
	first := word(&xs[0]) ^ mask
	src, dst := xs, scratch[:len(xs)]
	for d := range 8 {
		c := &counts[d]
		shift := 8 * uint(d)
		if c[byte(first>>shift)] == len(xs) {
			continue // every key has the same digit here
		}
		var next [256]int
		sum := 0
		for b, n := range c {
			next[b] = sum
			sum += n
		}
		for i := range src {
			b := byte((word(&src[i]) ^ mask) >> shift)
			dst[next[b]] = src[i]
			next[b]++
		}
		src, dst = dst, src
	}
	return src
}

// word is the first 8 bytes of *x.
func word[T any](x *T) uint64 { return *(*uint64)(unsafe.Pointer(x)) }
