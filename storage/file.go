package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// writeBlockFile writes schema and records as an LZ4-compressed Arrow IPC
// file in dir under a temporary name, and returns that name and the file's
// size. The caller renames the file into place, so a crash part way through
// never leaves a partial file under a block's final name.
//
// Arrow v15's IPC file writer and reader each keep a reference to the
// dictionaries of dictionary-encoded columns that they never release. The
// Go allocator's garbage collector reclaims them, but an allocator that
// counts bytes will see them as outstanding.
//
// The file is not synced: blocks never outlive the process that wrote them,
// so durability across a power failure would buy nothing.
func writeBlockFile(dir string, id BlockID, schema *arrow.Schema, records []arrow.Record, mem memory.Allocator) (tmp string, size int64, err error) {
	w, err := newBlockFile(dir, id, schema, mem)
	if err != nil {
		return "", 0, err
	}
	for _, rec := range records {
		if err := w.write(rec); err != nil {
			w.abort()
			return "", 0, err
		}
	}
	return w.finish()
}

// blockFile is a block file being written, record by record, under a
// temporary name.
type blockFile struct {
	f  *os.File
	pw *positionWriter
	w  *ipc.FileWriter
}

func newBlockFile(dir string, id BlockID, schema *arrow.Schema, mem memory.Allocator) (*blockFile, error) {
	f, err := os.CreateTemp(dir, string(id)+"-*.tmp")
	if err != nil {
		return nil, err
	}
	pw := &positionWriter{w: bufio.NewWriterSize(f, 64<<10)}
	w, err := ipc.NewFileWriter(pw, ipc.WithSchema(schema), ipc.WithLZ4(), ipc.WithAllocator(mem))
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &blockFile{f: f, pw: pw, w: w}, nil
}

func (b *blockFile) write(rec arrow.Record) error { return b.w.Write(rec) }

// finish completes the file and returns its temporary name and size.
func (b *blockFile) finish() (tmp string, size int64, err error) {
	err = b.w.Close()
	if err == nil {
		err = b.pw.w.Flush()
	}
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(b.f.Name())
		return "", 0, err
	}
	return b.f.Name(), b.pw.pos, nil
}

// abort removes the file.
func (b *blockFile) abort() {
	b.w.Close()
	b.f.Close()
	os.Remove(b.f.Name())
}

// readBlockFile reads every record of the block file at path. The records
// are allocated from mem and owned by the caller. The file's schema must equal
// schema.
func readBlockFile(path string, schema *arrow.Schema, mem memory.Allocator) (records []arrow.Record, err error) {
	for rec, err := range blockFileRecords(path, schema, mem) {
		if err != nil {
			releaseAll(records)
			return nil, err
		}
		records = append(records, rec)
	}
	return records, nil
}

// blockFileRecords yields the records of the block file at path one at a
// time, each owned by the caller. The file's schema must equal schema.
func blockFileRecords(path string, schema *arrow.Schema, mem memory.Allocator) iter.Seq2[arrow.Record, error] {
	return func(yield func(arrow.Record, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(nil, err)
			return
		}
		defer f.Close()
		r, err := openBlockFile(f, path, schema, mem)
		if err != nil {
			yield(nil, err)
			return
		}
		defer r.Close()
		for i := range r.NumRecords() {
			rec, err := recordAt(r, i, path)
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// openBlockFile opens the IPC reader of a block file; the IPC reader
// panics on some malformed input, which must fail the read, not the
// process.
func openBlockFile(f *os.File, path string, schema *arrow.Schema, mem memory.Allocator) (r *ipc.FileReader, err error) {
	defer func() {
		if v := recover(); v != nil {
			r, err = nil, fmt.Errorf("malformed block file %s: %v", path, v)
		}
	}()
	return ipc.NewFileReader(f, ipc.WithSchema(schema), ipc.WithAllocator(mem))
}

// recordAt reads record i, which RecordAt, unlike Record, hands to the
// caller, valid after the reader is closed.
func recordAt(r *ipc.FileReader, i int, path string) (rec arrow.Record, err error) {
	defer func() {
		if v := recover(); v != nil {
			rec, err = nil, fmt.Errorf("malformed block file %s: %v", path, v)
		}
	}()
	return r.RecordAt(i)
}

// positionWriter lets the IPC file writer, which needs an io.WriteSeeker only
// to learn its current offset, write through a buffer. It also yields the
// size of the file written.
type positionWriter struct {
	w   *bufio.Writer
	pos int64
}

func (p *positionWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.pos += int64(n)
	return n, err
}

func (p *positionWriter) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekCurrent {
		return p.pos, errors.New("storage: block file writer can only report its position")
	}
	return p.pos, nil
}
