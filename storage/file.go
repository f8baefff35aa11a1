package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	f, err := os.CreateTemp(dir, string(id)+"-*.tmp")
	if err != nil {
		return "", 0, err
	}
	name := f.Name()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			tmp, size = "", 0
		}
	}()

	pw := &positionWriter{w: bufio.NewWriterSize(f, 64<<10)}
	w, err := ipc.NewFileWriter(pw, ipc.WithSchema(schema), ipc.WithLZ4(), ipc.WithAllocator(mem))
	if err != nil {
		return "", 0, err
	}
	for _, rec := range records {
		if err := w.Write(rec); err != nil {
			return "", 0, err
		}
	}
	if err := w.Close(); err != nil {
		return "", 0, err
	}
	if err := pw.w.Flush(); err != nil {
		return "", 0, err
	}
	return name, pw.pos, nil
}

// readBlockFile reads every record of the block file at path. The records
// are allocated from mem and owned by the caller. The file's schema must equal
// schema.
func readBlockFile(path string, schema *arrow.Schema, mem memory.Allocator) (records []arrow.Record, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	// The IPC reader panics on some malformed input. A damaged block file
	// must fail the read, not the process.
	defer func() {
		if r := recover(); r != nil {
			releaseAll(records)
			records = nil
			err = fmt.Errorf("malformed block file %s: %v", path, r)
		}
	}()

	r, err := ipc.NewFileReader(f, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	defer r.Close()

	n := r.NumRecords()
	records = make([]arrow.Record, 0, n)
	for i := range n {
		// RecordAt, unlike Record, hands ownership to the caller, so the
		// records stay valid after the reader is closed.
		rec, err := r.RecordAt(i)
		if err != nil {
			releaseAll(records)
			return nil, err
		}
		records = append(records, rec)
	}
	return records, nil
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
