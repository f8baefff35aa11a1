package saferead_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/ember-go/ember/internal/saferead"
)

func TestAllocatorBudget(t *testing.T) {
	a := saferead.NewAllocator(1000)
	b := a.Allocate(600)
	err := saferead.Do("f.arrow", func() error {
		a.Allocate(600)
		return nil
	})
	var over *saferead.OverBudgetError
	if !errors.As(err, &over) || !errors.Is(err, saferead.ErrDamaged) || !strings.Contains(err.Error(), "f.arrow") {
		t.Fatalf("over the budget: %v, want an OverBudgetError naming the file", err)
	}
	if over.Size != 600 || over.Held != 600 || over.Limit != 1000 {
		t.Errorf("got %+v", over)
	}
	b = a.Reallocate(900, b)
	if a.Held() != 900 {
		t.Errorf("held %d after reallocating to 900", a.Held())
	}
	a.Free(b)
	if a.Held() != 0 {
		t.Errorf("held %d after freeing all", a.Held())
	}
	if err := saferead.Do("g", func() error { panic("boom") }); !errors.Is(err, saferead.ErrDamaged) || !strings.Contains(err.Error(), "g: damaged file: boom") {
		t.Errorf("a panic: %v", err)
	}
}

// stream writes one record of a column of type typ, in the stream or the
// file format; for a nested type, only the schema (Arrow's writer bounds
// the depth of what it writes).
func stream(t *testing.T, typ arrow.DataType, file bool) []byte {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: typ, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).AppendNull()
	rec := b.NewRecord()
	defer rec.Release()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w interface {
		Write(arrow.Record) error
		Close() error
	}
	if file {
		if w, err = ipc.NewFileWriter(f, ipc.WithSchema(schema)); err != nil {
			t.Fatal(err)
		}
	} else {
		w = ipc.NewWriter(f, ipc.WithSchema(schema))
	}
	if _, ok := typ.(arrow.NestedType); !ok {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func nested(depth int) arrow.DataType {
	var t arrow.DataType = arrow.BinaryTypes.String
	for i := range depth - 1 {
		if i%2 == 0 {
			t = arrow.ListOf(t)
		} else {
			t = arrow.StructOf(arrow.Field{Name: "f", Type: t, Nullable: true})
		}
	}
	return t
}

func TestCheckArrowIPC(t *testing.T) {
	for _, file := range []bool{false, true} {
		for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int64, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
			arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32), nested(saferead.MaxDepth - 1)} {
			data := stream(t, typ, file)
			if isFile, err := saferead.CheckArrowIPC(bytes.NewReader(data), int64(len(data))); err != nil || isFile != file {
				t.Errorf("file=%v %s: %v", file, typ, err)
			}
			for _, cut := range []int{len(data) / 3, len(data) - 3} {
				if _, err := saferead.CheckArrowIPC(bytes.NewReader(data[:cut]), int64(cut)); !errors.Is(err, saferead.ErrDamaged) {
					t.Errorf("file=%v %s cut at %d: %v, want ErrDamaged", file, typ, cut, err)
				}
			}
		}
		data := stream(t, nested(saferead.MaxDepth+2), file)
		if _, err := saferead.CheckArrowIPC(bytes.NewReader(data), int64(len(data))); err == nil || !strings.Contains(err.Error(), "deeper than") {
			t.Errorf("file=%v: a schema %d deep: %v", file, saferead.MaxDepth+2, err)
		}
	}
}

func TestCheckSchema(t *testing.T) {
	ok := arrow.NewSchema([]arrow.Field{{Name: "a", Type: nested(saferead.MaxDepth)}}, nil)
	if err := saferead.CheckSchema(ok); err != nil {
		t.Errorf("depth %d: %v", saferead.MaxDepth, err)
	}
	deep := arrow.NewSchema([]arrow.Field{{Name: "a", Type: nested(saferead.MaxDepth + 1)}}, nil)
	if err := saferead.CheckSchema(deep); !errors.Is(err, saferead.ErrDamaged) {
		t.Errorf("depth %d: %v", saferead.MaxDepth+1, err)
	}
}
