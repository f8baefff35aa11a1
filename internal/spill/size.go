package spill

import (
	"reflect"
)

// Sizer estimates the bytes values of T take in memory. A type without
// references has its fixed size; for others, a sample of the values is
// measured (the first ones, then one in sampleEvery), and the average
// stands for the rest, as Spark's SizeTracker samples.
type Sizer[T any] struct {
	fixed   int64
	refs    bool
	seen    int64
	sampled int64
	total   int64
}

const sampleEvery = 64

// NewSizer returns a Sizer for T.
func NewSizer[T any]() *Sizer[T] {
	t := reflect.TypeFor[T]()
	return &Sizer[T]{fixed: int64(t.Size()), refs: hasRefs(t, 0)}
}

// Of estimates the bytes v takes.
func (s *Sizer[T]) Of(v T) int64 {
	if !s.refs {
		return s.fixed
	}
	s.seen++
	if s.sampled < 16 || s.seen%sampleEvery == 0 {
		s.sampled++
		s.total += Exact(v)
	}
	return s.total / s.sampled
}

// Exact measures the bytes v takes, following its references (to a
// bounded depth).
func Exact[T any](v T) int64 {
	rv := reflect.ValueOf(&v).Elem()
	return int64(rv.Type().Size()) + indirect(rv, 0)
}

// maxDepth bounds how deep Exact follows pointers, which may form cycles.
const maxDepth = 8

// indirect is the bytes v refers to beyond its own size.
func indirect(v reflect.Value, depth int) int64 {
	if depth > maxDepth {
		return 0
	}
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len())
	case reflect.Slice:
		if v.IsNil() {
			return 0
		}
		elem := v.Type().Elem()
		n := int64(v.Cap()) * int64(elem.Size())
		if hasRefs(elem, 0) {
			for i := range v.Len() {
				n += indirect(v.Index(i), depth+1)
			}
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return 0
		}
		kt, vt := v.Type().Key(), v.Type().Elem()
		// Buckets hold keys, values and a byte of hash each, about
		// half-full on average growth.
		n := int64(v.Len()) * (int64(kt.Size()) + int64(vt.Size()) + 1) * 3 / 2
		if hasRefs(kt, 0) || hasRefs(vt, 0) {
			for it := v.MapRange(); it.Next(); {
				n += indirect(it.Key(), depth+1) + indirect(it.Value(), depth+1)
			}
		}
		return n + 48
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		e := v.Elem()
		return int64(e.Type().Size()) + indirect(e, depth+1)
	case reflect.Interface:
		if v.IsNil() {
			return 0
		}
		e := v.Elem()
		return int64(e.Type().Size()) + indirect(e, depth+1)
	case reflect.Struct:
		var n int64
		for i := range v.NumField() {
			n += indirect(v.Field(i), depth)
		}
		return n
	case reflect.Array:
		var n int64
		if hasRefs(v.Type().Elem(), 0) {
			for i := range v.Len() {
				n += indirect(v.Index(i), depth)
			}
		}
		return n
	}
	return 0
}

// hasRefs reports whether values of t refer to memory beyond their own.
func hasRefs(t reflect.Type, depth int) bool {
	if depth > maxDepth {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasRefs(t.Elem(), depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			if hasRefs(t.Field(i).Type, depth+1) {
				return true
			}
		}
	}
	return false
}
