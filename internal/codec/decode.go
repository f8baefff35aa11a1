package codec

import (
	"errors"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
)

// reader decodes rows of the Arrow array it is bound to into Go memory: rows
// i to i+count-1 (logical indices of the array) go to p, p+stride, and so on.
// A reader is bound to a range of rows and checked over it when created, so
// that reading inside the range cannot go out of bounds, whatever the source
// of the array; readers keep scratch state and are not safe for concurrent
// use.
type reader func(i, count int, p unsafe.Pointer, stride uintptr)

// reader returns the reader of n bound to rows [lo, hi) of d.
func (n *node) reader(d arrow.ArrayData, lo, hi int) (reader, error) {
	switch n.kind {
	case kindBool:
		return boolReader(d, lo, hi)
	case kindInt8:
		return fixedReader[int8, int8](d, arrow.INT8, lo, hi)
	case kindInt16:
		return fixedReader[int16, int16](d, arrow.INT16, lo, hi)
	case kindInt32:
		return fixedReader[int32, int32](d, arrow.INT32, lo, hi)
	case kindInt64:
		return fixedReader[int64, int64](d, arrow.INT64, lo, hi)
	case kindInt:
		return fixedReader[int, int64](d, arrow.INT64, lo, hi)
	case kindUint8:
		return fixedReader[uint8, uint8](d, arrow.UINT8, lo, hi)
	case kindUint16:
		return fixedReader[uint16, uint16](d, arrow.UINT16, lo, hi)
	case kindUint32:
		return fixedReader[uint32, uint32](d, arrow.UINT32, lo, hi)
	case kindUint64:
		return fixedReader[uint64, uint64](d, arrow.UINT64, lo, hi)
	case kindUint:
		return fixedReader[uint, uint64](d, arrow.UINT64, lo, hi)
	case kindFloat32:
		return fixedReader[float32, float32](d, arrow.FLOAT32, lo, hi)
	case kindFloat64:
		return fixedReader[float64, float64](d, arrow.FLOAT64, lo, hi)
	case kindString:
		return varReader(d, arrow.STRING, lo, hi, stringsOf)
	case kindBytes:
		return varReader(d, arrow.BINARY, lo, hi, bytesOf)
	case kindTime:
		return timeReader(d, lo, hi)
	case kindStruct:
		return n.structReader(d, lo, hi)
	case kindSlice, kindArray:
		return n.listReader(d, lo, hi)
	case kindMap:
		return n.mapReader(d, lo, hi)
	default: // kindPointer
		return n.pointerReader(d, lo, hi)
	}
}

// fixedReader reads Arrow numbers of type A into Go numbers of type G.
func fixedReader[G, A number](d arrow.ArrayData, id arrow.Type, lo, hi int) (reader, error) {
	valid, err := span(d, id, lo, hi, 0)
	if err != nil {
		return nil, err
	}
	vals, err := fixedValues[A](d, lo, hi)
	if err != nil {
		return nil, err
	}
	size := unsafe.Sizeof(G(0))
	same := size == unsafe.Sizeof(A(0))
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		if valid.bits == nil && same && stride == size {
			copy(unsafe.Slice((*A)(p), count), vals[i:i+count])
			return
		}
		for r := range count {
			q := (*G)(unsafe.Add(p, uintptr(r)*stride))
			if valid.null(i + r) {
				*q = 0
			} else {
				*q = G(vals[i+r])
			}
		}
	}, nil
}

// boolReader reads Arrow booleans, packed in bits.
func boolReader(d arrow.ArrayData, lo, hi int) (reader, error) {
	valid, err := span(d, arrow.BOOL, lo, hi, 0)
	if err != nil {
		return nil, err
	}
	vals, err := bits(d, 1, lo, hi)
	if err != nil {
		return nil, err
	}
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		for r := range count {
			*(*bool)(unsafe.Add(p, uintptr(r)*stride)) = !valid.null(i+r) && !vals.null(i+r)
		}
	}, nil
}

// timeReader reads nanosecond timestamps into time.Time values.
func timeReader(d arrow.ArrayData, lo, hi int) (reader, error) {
	valid, err := span(d, arrow.TIMESTAMP, lo, hi, 0)
	if err != nil {
		return nil, err
	}
	vals, err := fixedValues[int64](d, lo, hi)
	if err != nil {
		return nil, err
	}
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		for r := range count {
			q := (*time.Time)(unsafe.Add(p, uintptr(r)*stride))
			if valid.null(i + r) {
				*q = time.Time{}
			} else {
				*q = nanosToTime(vals[i+r])
			}
		}
	}, nil
}

// varReader reads Arrow strings or binary values into Go strings or byte
// slices that never alias Arrow memory. copyOf copies the bytes of the rows
// being decoded, once, and returns a function that gives each value: strings
// share one copy per batch (no allocation per row; a string kept keeps its
// batch's text alive), byte slices, which their owner may modify, get a copy
// each.
func varReader[S string | []byte](d arrow.ArrayData, id arrow.Type, lo, hi int, copyOf func([]byte) func(lo, hi int32) S) (reader, error) {
	valid, offs, data, err := varBinary(d, id, lo, hi)
	if err != nil {
		return nil, err
	}
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		var null S
		base := offs[i]
		value := copyOf(data[base:offs[i+count]])
		for r := range count {
			q := (*S)(unsafe.Add(p, uintptr(r)*stride))
			if valid.null(i + r) {
				*q = null
			} else {
				*q = value(offs[i+r]-base, offs[i+r+1]-base)
			}
		}
	}, nil
}

func stringsOf(b []byte) func(lo, hi int32) string {
	s := string(b)
	return func(lo, hi int32) string { return s[lo:hi] }
}

// bytesOf copies each value; an empty value decodes to an empty, non-nil
// slice.
func bytesOf(b []byte) func(lo, hi int32) []byte {
	return func(lo, hi int32) []byte { return append(make([]byte, 0, hi-lo), b[lo:hi]...) }
}

// structReader reads structs field by field, each field reader decoding
// all count rows at once.
func (n *node) structReader(d arrow.ArrayData, lo, hi int) (reader, error) {
	valid, err := span(d, arrow.STRUCT, lo, hi, len(n.fields))
	if err != nil {
		return nil, err
	}
	// A struct's offset applies to its children as well.
	off := d.Offset()
	fields := make([]reader, len(n.fields))
	for k, f := range n.fields {
		fields[k], err = f.node.reader(d.Children()[k], off+lo, off+hi)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
	}
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		for k, f := range n.fields {
			fields[k](off+i, count, unsafe.Add(p, f.offset), stride)
		}
		if valid.bits == nil {
			return
		}
		for r := range count {
			if valid.null(i + r) {
				reflect.NewAt(n.typ, unsafe.Add(p, uintptr(r)*stride)).Elem().SetZero()
			}
		}
	}, nil
}

// listReader reads lists into slices, allocating one per row, or into arrays
// of fixed length.
func (n *node) listReader(d arrow.ArrayData, lo, hi int) (reader, error) {
	valid, offs, first, last, err := nested(d, arrow.LIST, lo, hi)
	if err != nil {
		return nil, err
	}
	elem, err := n.elem.reader(d.Children()[0], first, last)
	if err != nil {
		return nil, fmt.Errorf("list element: %w", err)
	}
	size := n.elem.typ.Size()

	if n.kind == kindArray {
		length := n.length
		for i := lo; i < hi; i++ {
			if m := int(offs[i+1] - offs[i]); m != length && !valid.null(i) {
				return nil, fmt.Errorf("row %d has %d elements, want %d for %s", i, m, length, n.typ)
			}
		}
		return func(i, count int, p unsafe.Pointer, stride uintptr) {
			for r := range count {
				q := unsafe.Add(p, uintptr(r)*stride)
				if valid.null(i + r) {
					reflect.NewAt(n.typ, q).Elem().SetZero()
				} else if length > 0 {
					elem(int(offs[i+r]), length, q, size)
				}
			}
		}, nil
	}

	// All empty rows share one zero-length array, so that they decode as
	// empty rather than nil without allocating.
	empty := reflect.MakeSlice(n.typ, 0, 0).UnsafePointer()
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		for r := range count {
			h := (*sliceHeader)(unsafe.Add(p, uintptr(r)*stride))
			if valid.null(i + r) {
				*h = sliceHeader{}
				continue
			}
			m := int(offs[i+r+1] - offs[i+r])
			if m == 0 {
				*h = sliceHeader{data: empty}
				continue
			}
			data := reflect.MakeSlice(n.typ, m, m).UnsafePointer()
			elem(int(offs[i+r]), m, data, size)
			*h = sliceHeader{data: data, len: m, cap: m}
		}
	}, nil
}

// nested checks a list-like column (list or map) for rows lo..hi and
// returns its validity, its offsets and the range [first, last) of child
// rows those rows span.
func nested(d arrow.ArrayData, id arrow.Type, lo, hi int) (valid bitmap, offs []int32, first, last int, err error) {
	if valid, err = span(d, id, lo, hi, 1); err != nil {
		return
	}
	if offs, err = offsets(d, lo, hi); err != nil {
		return
	}
	if hi > lo {
		first, last = int(offs[lo]), int(offs[hi])
	}
	return
}

// mapReader reads Arrow maps into Go maps, through reflect.
func (n *node) mapReader(d arrow.ArrayData, lo, hi int) (reader, error) {
	valid, offs, first, last, err := nested(d, arrow.MAP, lo, hi)
	if err != nil {
		return nil, err
	}
	entries := d.Children()[0]
	if _, err := span(entries, arrow.STRUCT, first, last, 2); err != nil {
		return nil, fmt.Errorf("map entries: %w", err)
	}
	eoff := entries.Offset()
	keys, err := n.key.reader(entries.Children()[0], eoff+first, eoff+last)
	if err != nil {
		return nil, fmt.Errorf("map key: %w", err)
	}
	items, err := n.elem.reader(entries.Children()[1], eoff+first, eoff+last)
	if err != nil {
		return nil, fmt.Errorf("map value: %w", err)
	}
	ksize, vsize := n.key.typ.Size(), n.elem.typ.Size()
	ktyp, vtyp := reflect.SliceOf(n.key.typ), reflect.SliceOf(n.elem.typ)
	// Entries are decoded in bulk into these, then copied into the map.
	var ks, vs reflect.Value
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		for r := range count {
			dst := reflect.NewAt(n.typ, unsafe.Add(p, uintptr(r)*stride)).Elem()
			if valid.null(i + r) {
				dst.SetZero()
				continue
			}
			at, m := int(offs[i+r]), int(offs[i+r+1]-offs[i+r])
			mv := reflect.MakeMapWithSize(n.typ, m)
			if m > 0 {
				if !ks.IsValid() || ks.Len() < m {
					ks, vs = reflect.MakeSlice(ktyp, m, m), reflect.MakeSlice(vtyp, m, m)
				}
				keys(eoff+at, m, ks.UnsafePointer(), ksize)
				items(eoff+at, m, vs.UnsafePointer(), vsize)
				for j := range m {
					mv.SetMapIndex(ks.Index(j), vs.Index(j))
				}
			}
			dst.Set(mv)
		}
	}, nil
}

// pointerReader reads nullable values: null is nil, anything else a pointer
// to a freshly allocated value.
func (n *node) pointerReader(d arrow.ArrayData, lo, hi int) (reader, error) {
	elem, err := n.elem.reader(d, lo, hi)
	if err != nil {
		return nil, err
	}
	valid, err := validity(d, lo, hi)
	if err != nil {
		return nil, err
	}
	return func(i, count int, p unsafe.Pointer, stride uintptr) {
		for r := range count {
			q := (*unsafe.Pointer)(unsafe.Add(p, uintptr(r)*stride))
			if valid.null(i + r) {
				*q = nil
				continue
			}
			v := reflect.New(n.elem.typ).UnsafePointer()
			elem(i+r, 1, v, 0)
			*q = v
		}
	}, nil
}

// bitmap is a packed bit buffer read at logical indices: bit off+i holds
// row i. A nil bitmap holds only ones.
type bitmap struct {
	bits []byte
	off  int
}

// null reports whether bit i is zero.
func (b bitmap) null(i int) bool {
	if b.bits == nil {
		return false
	}
	j := b.off + i
	return b.bits[j>>3]&(1<<(j&7)) == 0
}

// span checks the parts of d that every reader relies on to read rows
// [lo, hi): its type, offset and length, number of children, and validity
// bitmap, which it returns.
func span(d arrow.ArrayData, id arrow.Type, lo, hi int, children int) (bitmap, error) {
	if d == nil || d.DataType() == nil {
		return bitmap{}, errors.New("missing array")
	}
	if got := d.DataType().ID(); got != id {
		return bitmap{}, fmt.Errorf("array of %s, want %s", got, id)
	}
	off, length := d.Offset(), d.Len()
	// The bound leaves room for the extra offset of variable-length types.
	if off < 0 || length < 0 || off > maxInt-length-8 {
		return bitmap{}, fmt.Errorf("array offset %d and length %d out of range", off, length)
	}
	if lo < 0 || lo > hi || hi > length {
		return bitmap{}, fmt.Errorf("rows %d to %d of an array of %d", lo, hi, length)
	}
	if len(d.Children()) != children {
		return bitmap{}, fmt.Errorf("array has %d children, want %d", len(d.Children()), children)
	}
	for _, c := range d.Children() {
		if c == nil {
			return bitmap{}, errors.New("missing child array")
		}
	}
	return validity(d, lo, hi)
}

// validity returns the validity bitmap of d, or a nil bitmap when d has no
// nulls, checking that it covers rows [lo, hi).
func validity(d arrow.ArrayData, lo, hi int) (bitmap, error) {
	if !hasNulls(d) || lo == hi {
		return bitmap{}, nil
	}
	return bits(d, 0, lo, hi)
}

// hasNulls reports whether d may hold nulls.
func hasNulls(d arrow.ArrayData) bool {
	// A null count of -1 (unknown) is taken as "some".
	return buffer(d, 0) != nil && d.NullN() != 0
}

// bits returns buffer i of d as a bitmap, checking that it covers rows
// [lo, hi).
func bits(d arrow.ArrayData, i, lo, hi int) (bitmap, error) {
	buf := buffer(d, i)
	if hi > lo && d.Offset()+hi > len(buf)*8 {
		return bitmap{}, fmt.Errorf("bitmap of %d bytes for %d rows at offset %d", len(buf), hi, d.Offset())
	}
	return bitmap{bits: buf, off: d.Offset()}, nil
}

// buffer returns the bytes of buffer i of d, nil if it is absent.
func buffer(d arrow.ArrayData, i int) []byte {
	bufs := d.Buffers()
	if i >= len(bufs) || bufs[i] == nil {
		return nil
	}
	return bufs[i].Bytes()
}

// fixedValues returns the values buffer of d as a []A indexed by row,
// checking that it covers rows [lo, hi).
func fixedValues[A any](d arrow.ArrayData, lo, hi int) ([]A, error) {
	if hi == lo {
		return nil, nil
	}
	buf := buffer(d, 1)
	size := int(unsafe.Sizeof(*new(A)))
	n := len(buf) / size
	if d.Offset()+hi > n {
		return nil, fmt.Errorf("values buffer of %d bytes for %d rows at offset %d", len(buf), hi, d.Offset())
	}
	return unsafe.Slice((*A)(unsafe.Pointer(unsafe.SliceData(buf))), n)[d.Offset():], nil
}

// offsets returns the offsets buffer of a list, map, string or binary d,
// indexed by row: row i spans offs[i] to offs[i+1]. It checks that the
// offsets of rows [lo, hi) exist, are non-negative and do not decrease.
func offsets(d arrow.ArrayData, lo, hi int) ([]int32, error) {
	if hi == lo {
		return nil, nil
	}
	offs, err := fixedValues[int32](d, lo, hi+1)
	if err != nil {
		return nil, err
	}
	if offs[lo] < 0 {
		return nil, fmt.Errorf("negative offset %d at row %d", offs[lo], lo)
	}
	for i := lo; i < hi; i++ {
		if offs[i] > offs[i+1] {
			return nil, fmt.Errorf("decreasing offsets at row %d", i)
		}
	}
	return offs, nil
}

// varBinary checks a string or binary d over rows [lo, hi) and returns its
// validity, offsets and data.
func varBinary(d arrow.ArrayData, id arrow.Type, lo, hi int) (bitmap, []int32, []byte, error) {
	valid, err := span(d, id, lo, hi, 0)
	if err != nil {
		return bitmap{}, nil, nil, err
	}
	offs, err := offsets(d, lo, hi)
	if err != nil {
		return bitmap{}, nil, nil, err
	}
	data := buffer(d, 2)
	if hi > lo && int(offs[hi]) > len(data) {
		return bitmap{}, nil, nil, fmt.Errorf("offset %d past data of %d bytes", offs[hi], len(data))
	}
	return valid, offs, data, nil
}

// matchSchema reports whether records of schema got can be read as records
// of schema want: the same columns, names and types, nullability aside.
func matchSchema(want, got *arrow.Schema) error {
	if got == nil {
		return errors.New("codec: record has no schema")
	}
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("codec: record has %d columns, want %d (schema %v)", got.NumFields(), want.NumFields(), want)
	}
	for i := range want.NumFields() {
		w, g := want.Field(i), got.Field(i)
		if w.Name != g.Name {
			return fmt.Errorf("codec: column %d is %q, want %q", i, g.Name, w.Name)
		}
		if !matchType(w.Type, g.Type) {
			return fmt.Errorf("codec: column %q has type %v, want %v", w.Name, g.Type, w.Type)
		}
	}
	return nil
}

// matchType reports whether arrays of type got can be read by the reader of
// type want. Field nullability, list element names and time zones (which do
// not change the instant) are ignored.
func matchType(want, got arrow.DataType) bool {
	if got == nil || want.ID() != got.ID() {
		return false
	}
	switch w := want.(type) {
	case *arrow.TimestampType:
		g, ok := got.(*arrow.TimestampType)
		return ok && g.Unit == w.Unit
	case *arrow.ListType:
		g, ok := got.(*arrow.ListType)
		return ok && matchType(w.Elem(), g.Elem())
	case *arrow.MapType:
		g, ok := got.(*arrow.MapType)
		return ok && matchType(w.KeyType(), g.KeyType()) && matchType(w.ItemType(), g.ItemType())
	case *arrow.StructType:
		g, ok := got.(*arrow.StructType)
		if !ok || g.NumFields() != w.NumFields() {
			return false
		}
		for i := range w.NumFields() {
			if w.Field(i).Name != g.Field(i).Name || !matchType(w.Field(i).Type, g.Field(i).Type) {
				return false
			}
		}
	}
	return true
}
