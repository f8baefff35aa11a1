package codec

import (
	"reflect"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
)

// kind is the shape of a Go type as far as the codec is concerned.
type kind uint8

const (
	kindBool kind = iota
	kindInt8
	kindInt16
	kindInt32
	kindInt64
	kindInt
	kindUint8
	kindUint16
	kindUint32
	kindUint64
	kindUint
	kindFloat32
	kindFloat64
	kindString
	kindBytes
	kindTime
	kindStruct
	kindSlice
	kindArray
	kindMap
	kindPointer
)

// zeroCopy reports whether values of kind k are laid out in Go memory
// exactly as in their Arrow values buffer.
func (k kind) zeroCopy() bool {
	switch k {
	case kindInt8, kindInt16, kindInt32, kindInt64,
		kindUint8, kindUint16, kindUint32, kindUint64,
		kindFloat32, kindFloat64:
		return true
	case kindInt, kindUint:
		// Arrow has no native int: int is Int64, which it matches only
		// where int is 64 bits wide.
		return strconv.IntSize == 64
	}
	return false
}

// node describes how one Go type maps to Arrow. The tree of nodes is built
// once per type; appenders and readers bind it to builders and arrays.
type node struct {
	typ      reflect.Type
	kind     kind
	dtype    arrow.DataType
	nullable bool // the Arrow column may hold nulls: only pointers write them

	fields []field // kindStruct
	elem   *node   // kindSlice, kindArray, kindPointer; the value of kindMap
	key    *node   // kindMap
	length int     // kindArray
}

// field is an encoded field of a struct.
type field struct {
	name   string
	offset uintptr
	node   *node
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	timestamp = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}
)

// fixedKinds maps the reflect kinds of numbers and bool to their codec kind
// and Arrow type.
var fixedKinds = map[reflect.Kind]struct {
	kind  kind
	dtype arrow.DataType
}{
	reflect.Bool:    {kindBool, arrow.FixedWidthTypes.Boolean},
	reflect.Int8:    {kindInt8, arrow.PrimitiveTypes.Int8},
	reflect.Int16:   {kindInt16, arrow.PrimitiveTypes.Int16},
	reflect.Int32:   {kindInt32, arrow.PrimitiveTypes.Int32},
	reflect.Int64:   {kindInt64, arrow.PrimitiveTypes.Int64},
	reflect.Int:     {kindInt, arrow.PrimitiveTypes.Int64},
	reflect.Uint8:   {kindUint8, arrow.PrimitiveTypes.Uint8},
	reflect.Uint16:  {kindUint16, arrow.PrimitiveTypes.Uint16},
	reflect.Uint32:  {kindUint32, arrow.PrimitiveTypes.Uint32},
	reflect.Uint64:  {kindUint64, arrow.PrimitiveTypes.Uint64},
	reflect.Uint:    {kindUint, arrow.PrimitiveTypes.Uint64},
	reflect.Float32: {kindFloat32, arrow.PrimitiveTypes.Float32},
	reflect.Float64: {kindFloat64, arrow.PrimitiveTypes.Float64},
}

// unsupportedError reports a type, or part of one, that the codec or the
// hasher cannot handle.
type unsupportedError struct {
	typ    reflect.Type // the offending type
	path   string       // dotted field path from root to it, if any
	root   reflect.Type // the type the caller asked for
	reason string       // optional explanation
}

func (e *unsupportedError) Error() string {
	var b strings.Builder
	b.WriteString("codec: unsupported type ")
	b.WriteString(e.typ.String())
	if e.path != "" {
		b.WriteString(" at field ")
		b.WriteString(e.path)
	}
	if e.path != "" || e.root != e.typ {
		b.WriteString(" (of ")
		b.WriteString(e.root.String())
		b.WriteString(")")
	}
	if e.reason != "" {
		b.WriteString(": ")
		b.WriteString(e.reason)
	}
	return b.String()
}

func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

// deriver builds the node tree of root, tracking where it is so that errors
// can name the field at fault.
type deriver struct {
	root   reflect.Type
	path   []string
	active map[reflect.Type]bool // types being derived: seeing one again means recursion
}

// derive returns the node of t.
func (d *deriver) derive(t reflect.Type) (*node, error) {
	if t == timeType {
		return &node{typ: t, kind: kindTime, dtype: timestamp}, nil
	}
	if f, ok := fixedKinds[t.Kind()]; ok {
		return &node{typ: t, kind: f.kind, dtype: f.dtype}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return &node{typ: t, kind: kindString, dtype: arrow.BinaryTypes.String}, nil
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Pointer, reflect.Struct:
		// Composite types are the only way back to a type being derived.
		if d.active[t] {
			return nil, d.fail(t, "recursive type")
		}
		d.active[t] = true
		defer delete(d.active, t)
	default:
		return nil, d.fail(t, "")
	}

	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &node{typ: t, kind: kindBytes, dtype: arrow.BinaryTypes.Binary}, nil
		}
		elem, err := d.derive(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{typ: t, kind: kindSlice, dtype: listOf(elem), elem: elem}, nil
	case reflect.Array:
		elem, err := d.derive(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{typ: t, kind: kindArray, dtype: listOf(elem), elem: elem, length: t.Len()}, nil
	case reflect.Map:
		if t.Key().Kind() == reflect.Pointer {
			return nil, d.fail(t, "pointer map keys compare by address, which does not survive a round trip")
		}
		key, err := d.derive(t.Key())
		if err != nil {
			return nil, err
		}
		elem, err := d.derive(t.Elem())
		if err != nil {
			return nil, err
		}
		dt := arrow.MapOf(key.dtype, elem.dtype)
		dt.SetItemNullable(elem.nullable)
		return &node{typ: t, kind: kindMap, dtype: dt, key: key, elem: elem}, nil
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Pointer {
			// Both nil and a pointer to nil would be null.
			return nil, d.fail(t, "pointer to pointer")
		}
		elem, err := d.derive(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{typ: t, kind: kindPointer, dtype: elem.dtype, nullable: true, elem: elem}, nil
	default: // reflect.Struct
		return d.deriveStruct(t)
	}
}

// deriveStruct returns the node of the struct type t.
func (d *deriver) deriveStruct(t reflect.Type) (*node, error) {
	n := &node{typ: t, kind: kindStruct}
	var afs []arrow.Field
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Tag.Get("ember") == "-" {
			continue
		}
		d.path = append(d.path, sf.Name)
		if !sf.IsExported() {
			err := d.fail(sf.Type, "unexported field; tag it `ember:\"-\"` to skip it")
			d.path = d.path[:len(d.path)-1]
			return nil, err
		}
		fn, err := d.derive(sf.Type)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, field{name: sf.Name, offset: sf.Offset, node: fn})
		afs = append(afs, arrow.Field{Name: sf.Name, Type: fn.dtype, Nullable: fn.nullable})
	}
	n.dtype = arrow.StructOf(afs...)
	return n, nil
}

// fail returns the error for the unsupported type t at the current path.
func (d *deriver) fail(t reflect.Type, reason string) error {
	return &unsupportedError{typ: t, path: strings.Join(d.path, "."), root: d.root, reason: reason}
}

// listOf returns the Arrow list type of elem.
func listOf(elem *node) *arrow.ListType {
	return arrow.ListOfField(arrow.Field{Name: "item", Type: elem.dtype, Nullable: elem.nullable})
}

// sliceHeader is the memory layout of a Go slice.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

const maxInt = int(^uint(0) >> 1)
