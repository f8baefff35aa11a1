// Package codec converts between Go values and Apache Arrow record batches.
//
// A [Codec] is derived once per Go type from its reflect.Type: the derivation
// builds a small tree of functions that read and write values through
// unsafe.Pointer and field offsets, so encoding and decoding touch no
// reflection per row (maps and the allocation of slices and pointers on
// decode are the exceptions).
//
// # Type mapping
//
// A struct T becomes a record with one column per exported field, in field
// order, named after the field. A field tagged `ember:"-"` is skipped. An
// unexported field without that tag is an error rather than silently dropped
// data. Embedded fields are ordinary columns named after their type. Any
// other T becomes a record with a single column named "value".
//
//	bool                 Boolean
//	int8 … int64, int    Int8 … Int64 (int is Int64)
//	uint8 … uint64, uint Uint8 … Uint64 (uint is Uint64)
//	float32, float64     Float32, Float64
//	string               String (UTF-8)
//	[]byte               Binary
//	time.Time            Timestamp(ns, "UTC")
//	struct               Struct
//	[]E, [N]E            List<E>
//	map[K]V              Map<K, V> (keys are never null)
//	*E                   the column of E, nullable: nil is null
//
// Named types map like their underlying kind. Channels, functions,
// interfaces, complex numbers, uintptr, unsafe.Pointer, pointers to pointers,
// pointer map keys and recursive types are rejected with an error wrapping
// [ErrUnsupported].
//
// # Round trips
//
// Decoding gives back the encoded values with these normalisations:
//
//   - A nil slice, []byte or map encodes as an empty one and decodes as an
//     empty, non-nil one.
//   - A time.Time decodes to the same instant in UTC, without a monotonic
//     clock reading. Timestamps hold nanoseconds since 1970 in an int64, so
//     times before 1677-09-21 or after 2262-04-11 are clamped to that range;
//     the zero Time is the exception and round-trips exactly.
//   - Strings and byte slices never alias Arrow memory, so they outlive the
//     record they came from. The strings of one batch share one copy of its
//     text (a string kept keeps that text alive); each byte slice is a copy
//     of its own, since its owner may modify it.
//   - A null in a column whose Go type is not a pointer decodes as the zero
//     value, so records written by other producers can be read leniently.
package codec

import (
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// ErrUnsupported is wrapped by every error reporting a Go type, or a part of
// one, that has no Arrow representation.
var ErrUnsupported = errors.New("unsupported element type")

// Codec converts between Go values of type T and Arrow record batches.
// It is derived once per type and cached; it is safe for concurrent use.
type Codec[T any] struct {
	schema *arrow.Schema
	cols   []column

	// zeroCopy is set when T is a fixed-width number whose Go layout is the
	// layout of its Arrow values buffer, so Batches can hand out views.
	zeroCopy bool
	// fast is set when T is a fixed-width number or bool that an Encoder can
	// append straight from the caller's slice.
	fast bool
}

// For returns the codec of T, or an error that names the type and the field
// path of its first unsupported part, for example
//
//	codec: unsupported type chan int at field Orders.Notify (of main.Customer)
//
// The error wraps [ErrUnsupported].
func For[T any]() (*Codec[T], error) {
	t := reflect.TypeFor[T]()
	v, ok := codecs.Load(t)
	if !ok {
		// Deriving twice in a race is harmless: the first stored wins.
		c, err := newCodec[T](t)
		v, _ = codecs.LoadOrStore(t, &cached{c, err})
	}
	e := v.(*cached)
	if e.err != nil {
		return nil, e.err
	}
	return e.value.(*Codec[T]), nil
}

// Schema returns the schema of the records the codec writes and reads.
func (c *Codec[T]) Schema() *arrow.Schema { return c.schema }

// ZeroCopy reports whether Batches returns views of Arrow buffers for T.
// It does so when T is a fixed-width number (possibly a named type), whose
// values Arrow stores exactly as Go does; bool is excluded because Arrow packs
// booleans into bits.
func (c *Codec[T]) ZeroCopy() bool { return c.zeroCopy }

// Encode returns one record holding values. The caller must release it.
func (c *Codec[T]) Encode(mem memory.Allocator, values []T) arrow.Record {
	e := c.NewEncoder(mem)
	defer e.Release()
	e.Append(values...)
	return e.NewRecord()
}

// Batches yields the rows of rec in batches of at most batchSize rows
// (4096 when batchSize <= 0).
//
// When ZeroCopy reports true and the column has no nulls, each batch is a
// view of the Arrow values buffer. Otherwise rows are decoded into a buffer
// that is reused from one batch to the next. Either way a batch is valid only
// until yield returns: copy what must be kept. rec must stay alive (not be
// released) while iterating.
//
// If rec does not match the codec's schema or is malformed, Batches yields
// one error and stops.
func (c *Codec[T]) Batches(rec arrow.Record, batchSize int) iter.Seq2[[]T, error] {
	if batchSize <= 0 {
		batchSize = defaultBatchSize
	}
	return func(yield func([]T, error) bool) {
		n, readers, err := c.bind(rec)
		if err != nil {
			yield(nil, err)
			return
		}
		if n == 0 {
			return
		}
		if c.zeroCopy {
			if all, ok := view[T](rec.Column(0).Data(), n); ok {
				for start := 0; start < n; start += batchSize {
					end := min(start+batchSize, n)
					// Cap the batch so that appending to it cannot write
					// into the rows that follow.
					if !yield(all[start:end:end], nil) {
						return
					}
				}
				return
			}
		}
		buf := make([]T, min(batchSize, n))
		for start := 0; start < n; start += batchSize {
			m := min(batchSize, n-start)
			batch := buf[:m:m]
			// Skipped fields are never written by the readers, so stale
			// values from the previous batch must not survive in them.
			clear(batch)
			c.read(readers, start, batch)
			if !yield(batch, nil) {
				return
			}
		}
	}
}

// Decode appends all rows of rec to dst and returns the extended slice.
// The rows are copies: they do not refer to rec's memory.
func (c *Codec[T]) Decode(rec arrow.Record, dst []T) ([]T, error) {
	n, readers, err := c.bind(rec)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	clear(dst[start:])
	c.read(readers, 0, dst[start:])
	return dst, nil
}

// Encoder accumulates values of type T and cuts them into records.
// An Encoder is not safe for concurrent use.
type Encoder[T any] struct {
	schema   *arrow.Schema
	cols     []column
	builders []array.Builder
	apps     []appender
	fast     bool
	n        int

	// stage receives the caller's values before they reach the appenders.
	// Handing the appenders a pointer into the caller's slice would make
	// every variadic Append allocate its argument on the heap.
	stage []T
}

// NewEncoder returns an encoder allocating Arrow memory from mem, or from
// memory.DefaultAllocator when mem is nil. Release it when done.
func (c *Codec[T]) NewEncoder(mem memory.Allocator) *Encoder[T] {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	e := &Encoder[T]{
		schema:   c.schema,
		cols:     c.cols,
		builders: make([]array.Builder, len(c.cols)),
		apps:     make([]appender, len(c.cols)),
		fast:     c.fast,
	}
	for i, col := range c.cols {
		e.builders[i] = array.NewBuilder(mem, c.schema.Field(i).Type)
		e.apps[i] = col.node.appender(e.builders[i])
	}
	return e
}

// Append adds values to the record under construction.
func (e *Encoder[T]) Append(values ...T) {
	if len(values) == 0 {
		return
	}
	e.n += len(values)
	if e.fast {
		appendFixed(e.builders[0], values)
		return
	}
	if e.stage == nil {
		e.stage = make([]T, stageLen(unsafe.Sizeof(*new(T))))
	}
	if len(values) > len(e.stage) {
		// Grow the builders once rather than by doubling stage by stage.
		for _, b := range e.builders {
			b.Reserve(len(values))
		}
	}
	for len(values) > 0 {
		k := copy(e.stage, values)
		e.appendRows(e.stage[:k])
		// Drop the references the staged copies hold.
		clear(e.stage[:k])
		values = values[k:]
	}
}

// Len returns the number of rows appended since the last NewRecord.
func (e *Encoder[T]) Len() int { return e.n }

// NewRecord returns a record of the rows appended so far, possibly none, and
// resets the encoder for the next record. The caller must release the record.
func (e *Encoder[T]) NewRecord() arrow.Record {
	arrs := make([]arrow.Array, len(e.builders))
	for i, b := range e.builders {
		arrs[i] = b.NewArray()
	}
	rec := array.NewRecord(e.schema, arrs, int64(e.n))
	for _, a := range arrs {
		a.Release()
	}
	e.n = 0
	return rec
}

// Release frees the memory held by the encoder. The encoder must not be used
// afterwards; records it returned stay valid.
func (e *Encoder[T]) Release() {
	for _, b := range e.builders {
		b.Release()
	}
	e.builders, e.apps, e.stage = nil, nil, nil
}

// appendRows hands rows, which belong to the encoder, to the column appenders.
func (e *Encoder[T]) appendRows(rows []T) {
	p := unsafe.Pointer(unsafe.SliceData(rows))
	stride := unsafe.Sizeof(*new(T))
	for i, col := range e.cols {
		e.apps[i].many(unsafe.Add(p, col.offset), stride, len(rows))
	}
}

// defaultBatchSize is the number of rows per batch when Batches is given none.
const defaultBatchSize = 4096

// column is one column of the record: the node of the Go value stored at
// offset within T.
type column struct {
	name   string
	offset uintptr
	node   *node
}

// codecs caches derived codecs, keyed by reflect.Type.
var codecs sync.Map

// cached is a cache entry: a *Codec[T] or hash function, or the error
// deriving it.
type cached struct {
	value any
	err   error
}

// bind checks rec against the schema and prepares one reader per column.
func (c *Codec[T]) bind(rec arrow.Record) (int, []reader, error) {
	if rec == nil {
		return 0, nil, errors.New("codec: nil record")
	}
	if err := matchSchema(c.schema, rec.Schema()); err != nil {
		return 0, nil, err
	}
	rows := rec.NumRows()
	if rows < 0 || rows > int64(maxInt) {
		return 0, nil, fmt.Errorf("codec: record has %d rows", rows)
	}
	n := int(rows)
	if int(rec.NumCols()) != len(c.cols) {
		return 0, nil, fmt.Errorf("codec: record has %d columns, schema %d", rec.NumCols(), len(c.cols))
	}
	readers := make([]reader, len(c.cols))
	for i, col := range c.cols {
		d := rec.Column(i).Data()
		if d.Len() != n {
			return 0, nil, fmt.Errorf("codec: column %q has %d rows, record %d", col.name, d.Len(), n)
		}
		r, err := col.node.reader(d, 0, n)
		if err != nil {
			return 0, nil, fmt.Errorf("codec: column %q: %w", col.name, err)
		}
		readers[i] = r
	}
	return n, readers, nil
}

// read decodes len(dst) rows starting at row start into dst.
func (c *Codec[T]) read(readers []reader, start int, dst []T) {
	if len(dst) == 0 {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(dst))
	stride := unsafe.Sizeof(*new(T))
	for i, col := range c.cols {
		readers[i](start, len(dst), unsafe.Add(p, col.offset), stride)
	}
}

// newCodec derives the codec of T, whose reflect.Type is t.
func newCodec[T any](t reflect.Type) (*Codec[T], error) {
	d := &deriver{root: t, active: make(map[reflect.Type]bool)}
	c := &Codec[T]{}
	if t.Kind() == reflect.Struct && t != timeType {
		n, err := d.derive(t)
		if err != nil {
			return nil, err
		}
		for _, f := range n.fields {
			c.cols = append(c.cols, column{name: f.name, offset: f.offset, node: f.node})
		}
	} else {
		n, err := d.derive(t)
		if err != nil {
			return nil, err
		}
		c.cols = []column{{name: "value", node: n}}
		c.zeroCopy = n.kind.zeroCopy()
		c.fast = c.zeroCopy || n.kind == kindBool
	}
	fields := make([]arrow.Field, len(c.cols))
	for i, col := range c.cols {
		fields[i] = arrow.Field{Name: col.name, Type: col.node.dtype, Nullable: col.node.nullable}
	}
	c.schema = arrow.NewSchema(fields, nil)
	return c, nil
}

// view returns the n values of a fixed-width column as a []T aliasing its
// buffer, or false when the column cannot be viewed: it has nulls, whose
// slots hold unspecified values, or its buffer is not aligned for T.
func view[T any](d arrow.ArrayData, n int) ([]T, bool) {
	if hasNulls(d) {
		return nil, false
	}
	size := unsafe.Sizeof(*new(T))
	buf := buffer(d, 1)
	off := d.Offset()
	if len(buf) == 0 || off < 0 || off > len(buf)/int(size)-n {
		return nil, false
	}
	p := unsafe.Pointer(unsafe.SliceData(buf))
	if uintptr(p)%unsafe.Alignof(*new(T)) != 0 {
		return nil, false
	}
	return unsafe.Slice((*T)(p), len(buf)/int(size))[off : off+n], true
}

// stageLen is the number of staged rows of the given size: enough to
// amortise the calls per column, small enough to stay in cache.
func stageLen(size uintptr) int {
	if size == 0 {
		return 1024
	}
	return int(min(max(32<<10/size, 16), 1024))
}
