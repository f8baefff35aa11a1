package codec

import (
	"math"
	"reflect"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// appender writes Go values of one node into the Arrow builder it is bound to.
type appender struct {
	// many appends count values, the first at p and each next one stride
	// bytes further. A single value is appended with stride 0.
	many func(p unsafe.Pointer, stride uintptr, count int)
	// null appends a null; it is called for nil pointers.
	null func()
}

// number is the set of Go types stored as Arrow fixed-width numbers.
type number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// fixedBuilder is implemented by the builders of Arrow fixed-width numbers.
type fixedBuilder[A any] interface {
	Append(A)
	AppendValues([]A, []bool)
	AppendNull()
}

// scratchLen is the number of values gathered from strided Go memory before
// they are handed to a builder in one call.
const scratchLen = 512

// allValid is a validity run for StructBuilder.AppendValues. Read only.
var allValid = func() []bool {
	v := make([]bool, scratchLen)
	for i := range v {
		v[i] = true
	}
	return v
}()

// oneNull is a validity run of one null. Read only.
var oneNull = []bool{false}

// appender returns the appender of n bound to b, which must be a builder of
// n.dtype.
func (n *node) appender(b array.Builder) appender {
	switch n.kind {
	case kindBool:
		return boolAppender(b.(*array.BooleanBuilder))
	case kindInt8:
		return fixedAppender[int8](b.(*array.Int8Builder))
	case kindInt16:
		return fixedAppender[int16](b.(*array.Int16Builder))
	case kindInt32:
		return fixedAppender[int32](b.(*array.Int32Builder))
	case kindInt64:
		return fixedAppender[int64](b.(*array.Int64Builder))
	case kindInt:
		return fixedAppender[int](b.(*array.Int64Builder))
	case kindUint8:
		return fixedAppender[uint8](b.(*array.Uint8Builder))
	case kindUint16:
		return fixedAppender[uint16](b.(*array.Uint16Builder))
	case kindUint32:
		return fixedAppender[uint32](b.(*array.Uint32Builder))
	case kindUint64:
		return fixedAppender[uint64](b.(*array.Uint64Builder))
	case kindUint:
		return fixedAppender[uint](b.(*array.Uint64Builder))
	case kindFloat32:
		return fixedAppender[float32](b.(*array.Float32Builder))
	case kindFloat64:
		return fixedAppender[float64](b.(*array.Float64Builder))
	case kindString:
		sb := b.(*array.StringBuilder)
		return bytesAppender[string](sb.BinaryBuilder, sb.AppendNull)
	case kindBytes:
		bb := b.(*array.BinaryBuilder)
		return bytesAppender[[]byte](bb, bb.AppendNull)
	case kindTime:
		return timeAppender(b.(*array.TimestampBuilder))
	case kindStruct:
		return n.structAppender(b.(*array.StructBuilder))
	case kindSlice, kindArray:
		return n.listAppender(b.(*array.ListBuilder))
	case kindMap:
		return n.mapAppender(b.(*array.MapBuilder))
	default: // kindPointer
		return n.pointerAppender(b)
	}
}

// fixedAppender appends Go numbers of type G to a builder of Arrow numbers
// of type A.
func fixedAppender[G, A number](b fixedBuilder[A]) appender {
	var scratch []A
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		if count == 1 {
			b.Append(A(*(*G)(p)))
			return
		}
		size := unsafe.Sizeof(G(0))
		if stride == size && size == unsafe.Sizeof(A(0)) {
			// Contiguous and same layout: the builder copies in one go.
			b.AppendValues(unsafe.Slice((*A)(p), count), nil)
			return
		}
		if len(scratch) < min(count, scratchLen) {
			scratch = make([]A, min(count, scratchLen))
		}
		for done := 0; done < count; {
			k := min(count-done, len(scratch))
			for i := range k {
				scratch[i] = A(*(*G)(unsafe.Add(p, uintptr(done+i)*stride)))
			}
			b.AppendValues(scratch[:k], nil)
			done += k
		}
	}
	return appender{many: many, null: b.AppendNull}
}

// boolAppender appends Go bools.
func boolAppender(b *array.BooleanBuilder) appender {
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		if stride == 1 || count == 1 {
			b.AppendValues(unsafe.Slice((*bool)(p), count), nil)
			return
		}
		b.Reserve(count)
		for i := range count {
			b.UnsafeAppend(*(*bool)(unsafe.Add(p, uintptr(i)*stride)))
		}
	}
	return appender{many: many, null: b.AppendNull}
}

// bytesAppender appends strings or byte slices (of type S) to a builder of
// String or Binary.
func bytesAppender[S string | []byte](b *array.BinaryBuilder, null func()) appender {
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		// Size the buffers once so that the values can be copied without
		// further checks.
		total := 0
		for i := range count {
			total += len(*(*S)(unsafe.Add(p, uintptr(i)*stride)))
		}
		b.Reserve(count)
		if b.DataCap()-b.DataLen() < total {
			// ReserveData grows to the exact size asked for; asking for at
			// least double keeps many small appends (list elements) linear.
			b.ReserveData(max(total, b.DataLen()))
		}
		for i := range count {
			q := unsafe.Add(p, uintptr(i)*stride)
			// Strings and slices both start with their data pointer. The
			// builder copies the bytes, so viewing a string as a slice is safe.
			b.UnsafeAppend(unsafe.Slice(*(**byte)(q), len(*(*S)(q))))
		}
	}
	return appender{many: many, null: null}
}

// timeAppender appends time.Time values as nanosecond timestamps.
func timeAppender(b *array.TimestampBuilder) appender {
	var scratch []arrow.Timestamp
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		if len(scratch) < min(count, scratchLen) {
			scratch = make([]arrow.Timestamp, min(count, scratchLen))
		}
		for done := 0; done < count; {
			k := min(count-done, len(scratch))
			for i := range k {
				scratch[i] = arrow.Timestamp(timeToNanos(*(*time.Time)(unsafe.Add(p, uintptr(done+i)*stride))))
			}
			b.AppendValues(scratch[:k], nil)
			done += k
		}
	}
	return appender{many: many, null: b.AppendNull}
}

// structAppender appends structs field by field: each field's appender sees
// all count values at once, so a struct of numbers is appended column-wise in
// tight loops.
func (n *node) structAppender(b *array.StructBuilder) appender {
	fields := make([]appender, len(n.fields))
	for i, f := range n.fields {
		fields[i] = f.node.appender(b.FieldBuilder(i))
	}
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		for done := 0; done < count; {
			k := min(count-done, len(allValid))
			b.AppendValues(allValid[:k])
			done += k
		}
		for i, f := range n.fields {
			fields[i].many(unsafe.Add(p, f.offset), stride, count)
		}
	}
	// A null struct still needs one slot in every child. Filling them with
	// zero values rather than nulls keeps children that are declared
	// non-nullable free of nulls.
	zero := reflect.New(n.typ).UnsafePointer()
	null := func() {
		b.AppendValues(oneNull)
		for i, f := range n.fields {
			fields[i].many(unsafe.Add(zero, f.offset), 0, 1)
		}
	}
	return appender{many: many, null: null}
}

// listAppender appends slices, or arrays of fixed length, as lists. The
// elements of one value are contiguous and appended in one call.
func (n *node) listAppender(b *array.ListBuilder) appender {
	elem := n.elem.appender(b.ValueBuilder())
	size := n.elem.typ.Size()
	var many func(p unsafe.Pointer, stride uintptr, count int)
	if n.kind == kindArray {
		length := n.length
		many = func(p unsafe.Pointer, stride uintptr, count int) {
			for i := range count {
				b.Append(true)
				if length > 0 {
					elem.many(unsafe.Add(p, uintptr(i)*stride), size, length)
				}
			}
		}
	} else {
		many = func(p unsafe.Pointer, stride uintptr, count int) {
			for i := range count {
				s := (*sliceHeader)(unsafe.Add(p, uintptr(i)*stride))
				b.Append(true)
				if s.len > 0 {
					elem.many(s.data, size, s.len)
				}
			}
		}
	}
	return appender{many: many, null: b.AppendNull}
}

// mapAppender appends maps, iterating them with reflect.
func (n *node) mapAppender(b *array.MapBuilder) appender {
	keys := n.key.appender(b.KeyBuilder())
	items := n.elem.appender(b.ItemBuilder())
	// Addressable holders receive each entry so that the key and item
	// appenders can read them through a pointer; they are reused, so
	// iterating allocates nothing.
	k := reflect.New(n.key.typ).Elem()
	v := reflect.New(n.elem.typ).Elem()
	kp, vp := k.Addr().UnsafePointer(), v.Addr().UnsafePointer()
	var it reflect.MapIter
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		for i := range count {
			m := reflect.NewAt(n.typ, unsafe.Add(p, uintptr(i)*stride)).Elem()
			b.Append(true)
			if m.Len() == 0 {
				continue
			}
			it.Reset(m)
			for it.Next() {
				k.SetIterKey(&it)
				v.SetIterValue(&it)
				keys.many(kp, 0, 1)
				items.many(vp, 0, 1)
			}
		}
		// Let go of the last map and entry.
		it.Reset(reflect.Value{})
		k.SetZero()
		v.SetZero()
	}
	return appender{many: many, null: b.AppendNull}
}

// pointerAppender appends the values pointed to, and a null for nil.
func (n *node) pointerAppender(b array.Builder) appender {
	elem := n.elem.appender(b)
	many := func(p unsafe.Pointer, stride uintptr, count int) {
		for i := range count {
			q := *(*unsafe.Pointer)(unsafe.Add(p, uintptr(i)*stride))
			if q == nil {
				elem.null()
			} else {
				elem.many(q, 0, 1)
			}
		}
	}
	return appender{many: many, null: elem.null}
}

// appendFixed appends values straight from the caller's slice when T is a
// bare number or bool of the builder's layout (Codec.fast). The concrete
// calls let the compiler see that values does not escape.
func appendFixed[T any](b array.Builder, values []T) {
	p := unsafe.Pointer(unsafe.SliceData(values))
	n := len(values)
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.AppendValues(unsafe.Slice((*bool)(p), n), nil)
	case *array.Int8Builder:
		b.AppendValues(unsafe.Slice((*int8)(p), n), nil)
	case *array.Int16Builder:
		b.AppendValues(unsafe.Slice((*int16)(p), n), nil)
	case *array.Int32Builder:
		b.AppendValues(unsafe.Slice((*int32)(p), n), nil)
	case *array.Int64Builder:
		b.AppendValues(unsafe.Slice((*int64)(p), n), nil)
	case *array.Uint8Builder:
		b.AppendValues(unsafe.Slice((*uint8)(p), n), nil)
	case *array.Uint16Builder:
		b.AppendValues(unsafe.Slice((*uint16)(p), n), nil)
	case *array.Uint32Builder:
		b.AppendValues(unsafe.Slice((*uint32)(p), n), nil)
	case *array.Uint64Builder:
		b.AppendValues(unsafe.Slice((*uint64)(p), n), nil)
	case *array.Float32Builder:
		b.AppendValues(unsafe.Slice((*float32)(p), n), nil)
	case *array.Float64Builder:
		b.AppendValues(unsafe.Slice((*float64)(p), n), nil)
	}
}

// Timestamps count nanoseconds since 1970 in an int64, which spans
// 1677-09-21 to 2262-04-11. The zero Time (year 1) is too common in Go to be
// clamped, so it is given the one value left outside that span.
const zeroTimeNanos = math.MinInt64

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeToNanos returns the timestamp of t.
func timeToNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return zeroTimeNanos
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nanosToTime returns the time of a timestamp, in UTC.
func nanosToTime(ns int64) time.Time {
	if ns == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
