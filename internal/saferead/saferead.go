// Package saferead reads files whose content may be damaged or malicious,
// such as Arrow and Parquet inputs: through an Arrow allocator with a
// budget, so that a length the file declares cannot make the process
// allocate without bound; with panics of the readers turned into errors
// that name the file; and with schemas of bounded depth.
package saferead

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet/metadata"
	"github.com/apache/arrow/go/v15/parquet/schema"
	"github.com/ember-go/ember/internal/sysmem"
)

// MaxDepth is the deepest nesting of types (lists, structs, maps) that a
// file's schema may have: real data stays far below it, and each level
// costs the readers stack and memory.
const MaxDepth = 64

// ErrDamaged marks an error in a file's content: a reader panicked on it,
// its schema is too deep, or it declares more memory than the budget.
var ErrDamaged = errors.New("damaged file")

// OverBudgetError is raised by an Allocator when a request would take it
// over its limit: the file declares lengths that the process will not
// allocate.
type OverBudgetError struct {
	Size  int64 // the request
	Held  int64 // already held
	Limit int64
}

func (e *OverBudgetError) Error() string {
	return fmt.Sprintf("it declares a buffer of %d bytes, with %d held, over the reading budget of %d bytes", e.Size, e.Held, e.Limit)
}

func (e *OverBudgetError) Unwrap() error { return ErrDamaged }

// Allocator is an Arrow memory.Allocator that holds at most its limit of
// bytes at once. A request beyond it panics with an *OverBudgetError, as
// Arrow's readers have no other way to fail an allocation; Do turns the
// panic into an error.
type Allocator struct {
	limit int64
	held  atomic.Int64
	mem   memory.Allocator
}

// NewAllocator returns an Allocator of limit bytes over Go's allocator. A
// limit of 0 or less means DefaultLimit.
func NewAllocator(limit int64) *Allocator {
	if limit <= 0 {
		limit = DefaultLimit()
	}
	return &Allocator{limit: limit, mem: memory.NewGoAllocator()}
}

// Allocate implements memory.Allocator.
func (a *Allocator) Allocate(size int) []byte {
	a.take(int64(size))
	return a.mem.Allocate(size)
}

// Reallocate implements memory.Allocator.
func (a *Allocator) Reallocate(size int, b []byte) []byte {
	a.take(int64(size) - int64(len(b)))
	return a.mem.Reallocate(size, b)
}

// Free implements memory.Allocator.
func (a *Allocator) Free(b []byte) {
	a.held.Add(-int64(len(b)))
	a.mem.Free(b)
}

// Limit is the most bytes the allocator holds at once.
func (a *Allocator) Limit() int64 { return a.limit }

// Held is the number of bytes allocated and not yet freed.
func (a *Allocator) Held() int64 { return a.held.Load() }

func (a *Allocator) take(n int64) {
	if n < 0 {
		a.held.Add(n)
		return
	}
	if held := a.held.Add(n); held > a.limit || held < 0 {
		a.held.Add(-n)
		panic(&OverBudgetError{Size: n, Held: held - n, Limit: a.limit})
	}
}

// DefaultLimit is the reading budget of one file when none is given: a
// quarter of the memory the process may use (its cgroup's limit,
// GOMEMLIMIT or physical memory, as sysmem finds it), so that a few tasks
// reading at once stay inside it.
func DefaultLimit() int64 {
	defaultOnce.Do(func() { defaultLimit = max(sysmem.Find().Bytes/4, 64<<20) })
	return defaultLimit
}

var (
	defaultOnce  sync.Once
	defaultLimit int64
)

// Do runs read, which reads the file at path, and turns a panic in it
// into an error naming the file and wrapping ErrDamaged: Arrow's and
// Parquet's readers panic on some damaged input, and an Allocator panics
// when a file declares too much.
func Do(path string, read func() error) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		var over *OverBudgetError
		if e, ok := v.(error); ok && errors.As(e, &over) {
			err = fmt.Errorf("%s: %w", path, over)
			return
		}
		err = fmt.Errorf("%s: %w: %v", path, ErrDamaged, v)
	}()
	return read()
}

// CheckSchema returns an error wrapping ErrDamaged when a field of s nests
// types deeper than MaxDepth.
func CheckSchema(s *arrow.Schema) error {
	for _, f := range s.Fields() {
		if d := depth(f.Type, 0); d > MaxDepth {
			return fmt.Errorf("%w: column %q nests types %d deep, more than %d", ErrDamaged, f.Name, d, MaxDepth)
		}
	}
	return nil
}

// depth is how deep t nests types, stopping early past MaxDepth.
func depth(t arrow.DataType, at int) int {
	if at > MaxDepth {
		return at
	}
	nested, ok := t.(arrow.NestedType)
	if !ok {
		return at + 1
	}
	d := at + 1
	for _, f := range nested.Fields() {
		d = max(d, depth(f.Type, at+1))
		if d > MaxDepth {
			break
		}
	}
	return d
}

// CheckParquet checks what Arrow's Parquet reader trusts in a file's
// metadata: the depth of its schema, and the Arrow schema it may carry
// (an IPC stream, in base64, under ARROW:schema), as CheckArrowIPC does.
func CheckParquet(md *metadata.FileMetaData) error {
	if md == nil || md.Schema == nil {
		return fmt.Errorf("%w: no metadata", ErrDamaged)
	}
	if err := checkParquetSchema(md.Schema); err != nil {
		return err
	}
	serialized := md.KeyValueMetadata().FindValue("ARROW:schema")
	if serialized == nil {
		return nil
	}
	// As pqarrow decodes it: padded if it can be, else raw.
	var decoded []byte
	var err error
	if len(*serialized)%4 == 0 {
		decoded, err = base64.StdEncoding.DecodeString(*serialized)
	}
	if len(decoded) == 0 || err != nil {
		if decoded, err = base64.RawStdEncoding.DecodeString(*serialized); err != nil {
			return fmt.Errorf("%w: its ARROW:schema is not base64: %v", ErrDamaged, err)
		}
	}
	// The reader takes it as a stream, whatever its first bytes.
	if err := checkArrowStream(bytes.NewReader(decoded), int64(len(decoded))); err != nil {
		return fmt.Errorf("%w: its ARROW:schema: %w", ErrDamaged, err)
	}
	return nil
}

func checkParquetSchema(s *schema.Schema) error {
	for i := range s.Root().NumFields() {
		f := s.Root().Field(i)
		if d := parquetDepth(f, 1); d > MaxDepth {
			return fmt.Errorf("%w: column %q nests types %d deep, more than %d", ErrDamaged, f.Name(), d, MaxDepth)
		}
	}
	return nil
}

func parquetDepth(n schema.Node, at int) int {
	g, ok := n.(*schema.GroupNode)
	if !ok || at > MaxDepth {
		return at
	}
	d := at
	for i := range g.NumFields() {
		if d = max(d, parquetDepth(g.Field(i), at+1)); d > MaxDepth {
			break
		}
	}
	return d
}
