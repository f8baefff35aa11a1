package rdd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/ember-go/ember/internal/saferead"
	"github.com/ember-go/ember/task"
)

// ArrowFile reads Arrow IPC files (the file format, as SaveAsArrow writes,
// or the stream format) as elements of T: a file, a directory of files (its
// hidden files and _SUCCESS left out) or a glob. Each file is a partition.
// Columns are matched to T by name, so a file may hold more columns than T
// needs; a missing column or one of another type is an error naming it.
func ArrowFile[T any](s *Session, path string) *RDD[T] {
	files, err := listFiles(path)
	r := newRDD[T](s, "ArrowFile", len(files), nil, nil, err)
	r.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error {
			return readArrowFile(files[p], func(rec arrow.Record) (bool, error) { return r.yieldProjected(rec, yield) })
		}
	}
	r.inputBytes = func(p int) int64 { return fileSize(files[p]) }
	return r
}

// readArrowFile calls each with every record of an Arrow IPC file or
// stream, until each says stop. The file's content is not trusted: its
// buffers come from an allocator with a budget, its schema's depth is
// bounded, and a panic of Arrow's reader becomes an error naming it.
func readArrowFile(path string, each func(arrow.Record) (bool, error)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	mem := saferead.NewAllocator(readBudget)
	info, err := f.Stat()
	if err != nil {
		return err
	}
	err = saferead.Do(path, func() error {
		isFile, err := saferead.CheckArrowIPC(f, info.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		// The reader the check chose, and no other: each trusts only
		// what the check read.
		if isFile {
			fr, err := ipc.NewFileReader(f, ipc.WithAllocator(mem))
			if err != nil {
				return damaged(fmt.Errorf("%s: %w", path, err))
			}
			defer fr.Close()
			return eachFileRecord(path, fr, each)
		}
		sr, err := ipc.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, info.Size()), 1<<16), ipc.WithAllocator(mem))
		if err != nil {
			return damaged(fmt.Errorf("%s: not an Arrow IPC file or stream: %w", path, err))
		}
		defer sr.Release()
		return eachStreamRecord(path, sr, each)
	})
	if errors.Is(err, saferead.ErrDamaged) {
		return damaged(err)
	}
	return err
}

// inFile names the file in err, if any.
func inFile(path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", path, err)
}

// readBudget is the most memory the reader of one Arrow or Parquet file
// may hold at once; 0 means saferead.DefaultLimit.
var readBudget int64

func eachFileRecord(path string, fr *ipc.FileReader, each func(arrow.Record) (bool, error)) error {
	if err := saferead.CheckSchema(fr.Schema()); err != nil {
		return damaged(fmt.Errorf("%s: %w", path, err))
	}
	for i := range fr.NumRecords() {
		rec, err := fr.Record(i)
		if err != nil {
			return damaged(fmt.Errorf("%s: record %d: %w", path, i, err))
		}
		if more, err := each(rec); err != nil || !more {
			return inFile(path, err)
		}
	}
	return nil
}

func eachStreamRecord(path string, sr *ipc.Reader, each func(arrow.Record) (bool, error)) error {
	if err := saferead.CheckSchema(sr.Schema()); err != nil {
		return damaged(fmt.Errorf("%s: %w", path, err))
	}
	for sr.Next() {
		if more, err := each(sr.Record()); err != nil || !more {
			return inFile(path, err)
		}
	}
	if err := sr.Err(); err != nil {
		return damaged(fmt.Errorf("%s: %w", path, err))
	}
	return nil
}

// damaged marks an error in a file's content: reading the same bytes again
// cannot mend it, so the task is not retried.
func damaged(err error) error { return task.Permanent(err) }

// yieldProjected decodes the columns of rec that T needs, found by name,
// into batches.
func (r *RDD[T]) yieldProjected(rec arrow.Record, yield func([]T) bool) (bool, error) {
	proj, err := project(rec, r.codec.Schema())
	if err != nil {
		return false, task.Permanent(err)
	}
	defer proj.Release()
	for b, err := range r.codec.Batches(proj, r.batchSize()) {
		if err != nil {
			return false, task.Permanent(err)
		}
		if len(b) > 0 && !yield(b) {
			return false, nil
		}
	}
	return true, nil
}

// project returns the columns of rec named in want, in want's order.
func project(rec arrow.Record, want *arrow.Schema) (arrow.Record, error) {
	got := rec.Schema()
	cols := make([]arrow.Array, want.NumFields())
	fields := make([]arrow.Field, want.NumFields())
	var missing []string
	for i, f := range want.Fields() {
		idx := got.FieldIndices(f.Name)
		if len(idx) == 0 {
			missing = append(missing, f.Name)
			continue
		}
		// The column keeps its own type: the codec accepts types that
		// differ from its own only in names of list elements and
		// nullability, as other writers make them.
		cols[i], fields[i] = rec.Column(idx[0]), got.Field(idx[0])
	}
	if len(missing) > 0 {
		names := make([]string, got.NumFields())
		for i, f := range got.Fields() {
			names[i] = f.Name
		}
		return nil, missingColumns(missing, names)
	}
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}

// missingColumns says which columns T needs that the data lacks.
func missingColumns(missing, have []string) error {
	return fmt.Errorf("the data has no column %s (it has %s)", strings.Join(missing, ", "), strings.Join(have, ", "))
}

// ParquetFile reads Parquet files as elements of T: a file, a directory of
// files or a glob. Each row group of each file is a partition, and only the
// columns T needs are read, matched by name.
func ParquetFile[T any](s *Session, path string) *RDD[T] {
	groups, err := parquetRowGroups(path)
	r := newRDD[T](s, "ParquetFile", len(groups), nil, nil, err)
	r.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error {
			return r.readRowGroup(tc.Context(), groups[p], yield)
		}
	}
	r.inputBytes = func(p int) int64 { return groups[p].bytes }
	return r
}

// rowGroup is one row group of one Parquet file.
type rowGroup struct {
	path  string
	group int
	bytes int64 // compressed, as stored
}

func parquetRowGroups(path string) ([]rowGroup, error) {
	files, err := listFiles(path)
	if err != nil {
		return nil, err
	}
	var groups []rowGroup
	for _, f := range files {
		err := openParquet(f, func(pf *parquetFile) error {
			for g := range pf.NumRowGroups() {
				groups = append(groups, rowGroup{f, g, max(pf.MetaData().RowGroup(g).TotalCompressedSize(), 0)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// openParquet opens the Parquet file at path and calls read with it and
// the allocator its data must come from. The file's content is not
// trusted, as in readArrowFile: its metadata is read with a budget, its
// schema's depth is bounded, and a panic of the reader becomes an error
// naming the file.
func openParquet(path string, read func(*parquetFile) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	pf := &parquetFile{path: path, f: f, size: info.Size(), mem: saferead.NewAllocator(readBudget)}
	err = saferead.Do(path, func() error {
		var err error
		pf.Reader, err = file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(pf.mem)))
		if err != nil {
			return damaged(fmt.Errorf("%s: %w", path, err))
		}
		if err := saferead.CheckParquet(pf.MetaData()); err != nil {
			return damaged(fmt.Errorf("%s: %w", path, err))
		}
		return read(pf)
	})
	if errors.Is(err, saferead.ErrDamaged) {
		return damaged(err)
	}
	return err
}

// parquetFile is an open Parquet file whose metadata has been checked.
type parquetFile struct {
	*file.Reader
	path string
	f    *os.File
	size int64
	mem  *saferead.Allocator
}

// checkGroup checks what the reader trusts of row group g before it
// decodes it.
func (pf *parquetFile) checkGroup(g int) error {
	if g >= pf.NumRowGroups() {
		return fmt.Errorf("%s: has %d row groups, not %d: it changed since the job began", pf.path, pf.NumRowGroups(), g+1)
	}
	if err := saferead.CheckParquetRowGroup(pf.f, pf.size, pf.MetaData(), g, pf.mem.Limit()); err != nil {
		return damaged(fmt.Errorf("%s: %w", pf.path, err))
	}
	if err := saferead.DecodeNested(pf.Reader, g); err != nil {
		return damaged(fmt.Errorf("%s: %w", pf.path, err))
	}
	return nil
}

func (r *RDD[T]) readRowGroup(ctx context.Context, rg rowGroup, yield func([]T) bool) error {
	return openParquet(rg.path, func(pf *parquetFile) error {
		if err := pf.checkGroup(rg.group); err != nil {
			return err
		}
		fr, err := pqarrow.NewFileReader(pf.Reader, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, pf.mem)
		if err != nil {
			return damaged(fmt.Errorf("%s: %w", rg.path, err))
		}
		leaves, err := parquetLeaves(fr.Manifest, r.codec.Schema())
		if err != nil {
			return damaged(fmt.Errorf("%s: %w", rg.path, err))
		}
		rr, err := fr.GetRecordReader(ctx, leaves, []int{rg.group})
		if err != nil {
			return fmt.Errorf("%s: %w", rg.path, err)
		}
		defer rr.Release()
		for rr.Next() {
			more, err := r.yieldProjected(rr.Record(), yield)
			if err != nil {
				return fmt.Errorf("%s: %w", rg.path, err)
			}
			if !more {
				return nil
			}
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return damaged(fmt.Errorf("%s: %w", rg.path, err))
		}
		return nil
	})
}

// parquetLeaves returns the leaf columns of the top-level fields that want
// names.
func parquetLeaves(m *pqarrow.SchemaManifest, want *arrow.Schema) ([]int, error) {
	var leaves []int
	var names []string
	for _, f := range want.Fields() {
		i := slices.IndexFunc(m.Fields, func(sf pqarrow.SchemaField) bool { return sf.Field.Name == f.Name })
		if i < 0 {
			names = append(names, f.Name)
			continue
		}
		leaves = appendLeaves(leaves, &m.Fields[i])
	}
	if len(names) > 0 {
		have := make([]string, len(m.Fields))
		for i, sf := range m.Fields {
			have[i] = sf.Field.Name
		}
		return nil, missingColumns(names, have)
	}
	return leaves, nil
}

func appendLeaves(dst []int, f *pqarrow.SchemaField) []int {
	// Not f.IsLeaf(): nested fields of a manifest carry ColIndex 0, not -1.
	if len(f.Children) == 0 {
		return append(dst, f.ColIndex)
	}
	for i := range f.Children {
		dst = appendLeaves(dst, &f.Children[i])
	}
	return dst
}

// SaveAsParquet writes each partition as a Parquet file,
// part-NNNNN.parquet, in dir (Snappy-compressed, as Spark writes by
// default), then _SUCCESS; commits are as for SaveAsArrow.
func (r *RDD[T]) SaveAsParquet(ctx context.Context, dir string, opts ...SaveOption) error {
	return saveParts(ctx, r, "SaveAsParquet", dir, "parquet", opts, func(f *os.File, in stream[T]) error {
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(1<<20))
		// The writer closes what it writes to if it can; the commit still
		// needs the file, so it gets a plain io.Writer.
		w, err := pqarrow.NewFileWriter(r.codec.Schema(), struct{ io.Writer }{f}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			return err
		}
		return r.encodeTo(in, w.Write, w.Close)
	})
}
