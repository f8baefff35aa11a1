package rdd

import (
	"reflect"
	"time"

	"github.com/ember-go/ember/internal/codec"
)

// cloner returns a function that copies values of A deeply, for the zero
// values of folds and aggregations: every key and every partition must
// start from its own copy, since the user's function may modify its first
// argument (Spark serializes the zero value for the same reason). Values
// without references are copied by assignment; others go through their
// Arrow codec and back. A type the codec does not support is copied by
// assignment, sharing its references.
func cloner[A any]() func(A) A {
	identity := func(v A) A { return v }
	if !hasReferences(reflect.TypeFor[A](), map[reflect.Type]bool{}) {
		return identity
	}
	c, err := codec.For[A]()
	if err != nil {
		return identity
	}
	return func(v A) A {
		rec := c.Encode(nil, []A{v})
		defer rec.Release()
		out, err := c.Decode(rec, nil)
		if err != nil || len(out) != 1 {
			return v
		}
		return out[0]
	}
}

// hasReferences reports whether values of t can share mutable memory.
func hasReferences(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if t == reflect.TypeFor[time.Time]() {
		return false // immutable in practice: its methods return new values
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return hasReferences(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if hasReferences(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
