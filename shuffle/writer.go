package shuffle

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/arrow/util"
)

// spillThreshold is the number of bytes of records a Writer buffers before
// spilling them to disk, counting every buffer a record references. It is a
// variable so that tests can force spills.
var spillThreshold int64 = 64 << 20

// MapStatus describes the committed output of one map task: the bytes and
// rows it holds for each reduce partition.
type MapStatus struct {
	ShuffleID, MapID int
	Sizes            []int64
	Rows             []int64
	// Epoch tells registrations of the same map output apart: the map
	// output tracker sets it, so that a report about an output that has
	// since been recomputed does not discard the new one.
	Epoch uint64
	// Location is the Flight address of the executor that holds the
	// output; "" in local mode, where every task reads its own files.
	Location string
}

// Writer collects the output of one map task attempt and commits it as a
// data file and an index file. Records are buffered per reduce partition;
// once the buffered records exceed a fixed size they are spilled, grouped by
// partition, to a temporary file, and Commit splices the spilled runs and
// the remaining records into one IPC stream per partition. Splicing copies
// the encoded record batches as they are, so spilled data is neither
// decoded nor compressed twice. Small consecutive records of a partition
// are merged before encoding, so readers see the rows in the order written
// but not necessarily the same record boundaries.
//
// A Writer is safe for concurrent use. It must end with Commit or Abort.
type Writer struct {
	m                           *Manager
	shuffleID, mapID, numReduce int
	attempt                     int
	schema                      *arrow.Schema
	opts                        []ipc.Option // manager options plus the schema
	header                      []byte       // schema message opening every stream
	threshold                   int64

	mu       sync.Mutex
	err      error            // sticky: set when the writer is finished or broken
	buf      [][]arrow.Record // buffered records per reduce partition
	rows     []int64          // rows per reduce partition, buffered and spilled
	buffered int64            // bytes held by buf
	spills   []*spill
	mem      Memory // nil: only the threshold bounds buf
	reserved int64  // of mem, for buf
}

// Memory is a task's share of its executor's memory budget, which a Writer
// buffers records within (*task.Context is one).
type Memory interface {
	// Reserve asks for n more bytes and returns how many were granted.
	Reserve(n int64) int64
	// Free gives back n bytes reserved.
	Free(n int64)
}

// UseMemory makes the writer buffer records within what mem grants, as
// well as under its fixed threshold: a refused reservation spills the
// buffered records to disk.
func (w *Writer) UseMemory(mem Memory) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mem = mem
}

// spill is a temporary file holding, for each reduce partition, a run of
// encoded record batch messages without the stream's schema message and
// end-of-stream marker.
type spill struct {
	f    *os.File
	runs []run // indexed by reduce partition
}

// run locates a byte range in a spill file.
type run struct{ off, len int64 }

var errWriterDone = errors.New("shuffle: writer already committed or aborted")

// NewWriter starts the output of one attempt of a map task with numReduce
// reduce partitions, whose records all have the given schema.
func (m *Manager) NewWriter(shuffleID, mapID, attempt, numReduce int, schema *arrow.Schema) (*Writer, error) {
	if err := checkIDs(shuffleID, mapID, attempt, numReduce); err != nil {
		return nil, err
	}
	if schema == nil {
		return nil, errors.New("shuffle: writer needs a schema")
	}
	w := &Writer{
		m:         m,
		shuffleID: shuffleID,
		mapID:     mapID,
		numReduce: numReduce,
		attempt:   attempt,
		schema:    schema,
		opts:      append(slices.Clip(m.opts), ipc.WithSchema(schema)),
		threshold: spillThreshold,
		buf:       make([][]arrow.Record, numReduce),
		rows:      make([]int64, numReduce),
	}
	var err error
	if w.header, err = encodeHeader(w.opts); err != nil {
		return nil, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := os.MkdirAll(m.shuffleDir(shuffleID), 0o700); err != nil {
		return nil, fmt.Errorf("shuffle: create shuffle directory: %w", err)
	}
	return w, nil
}

// Write adds rec to reduce partition reduce. The writer retains rec until it
// is written out; the caller keeps its own reference.
func (w *Writer) Write(reduce int, rec arrow.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if reduce < 0 || reduce >= w.numReduce {
		return fmt.Errorf("shuffle: reduce partition %d out of range [0,%d)", reduce, w.numReduce)
	}
	if rec == nil {
		return errors.New("shuffle: nil record")
	}
	if s := rec.Schema(); s != w.schema && !s.Equal(w.schema) {
		return fmt.Errorf("shuffle: record schema %v does not match writer schema %v", s, w.schema)
	}
	if rec.NumRows() == 0 {
		return nil
	}
	rec.Retain()
	w.buf[reduce] = append(w.buf[reduce], rec)
	w.rows[reduce] += rec.NumRows()
	size := util.TotalRecordSize(rec)
	w.buffered += size
	if w.buffered > w.threshold || !w.reserveLocked(size) {
		if err := w.spill(); err != nil {
			w.finish(fmt.Errorf("shuffle: spill: %w", err))
			return w.err
		}
	}
	return nil
}

// reserveLocked reserves n more bytes of the task's memory for buffered
// records, and reports whether it got them.
func (w *Writer) reserveLocked(n int64) bool {
	if w.mem == nil {
		return true
	}
	got := w.mem.Reserve(n)
	w.reserved += got
	return got == n
}

// releaseLocked gives back the memory reserved for buffered records.
func (w *Writer) releaseLocked() {
	if w.mem != nil && w.reserved > 0 {
		w.mem.Free(w.reserved)
	}
	w.reserved = 0
}

// Commit writes the data and index files and installs them. If another
// attempt of the same map task committed first, Commit discards this
// attempt's output and returns the status of the installed one, so that
// retried tasks are harmless.
func (w *Writer) Commit() (MapStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return MapStatus{}, w.err
	}
	st, err := w.commit()
	if err != nil {
		err = fmt.Errorf("shuffle: commit shuffle %d map %d attempt %d: %w", w.shuffleID, w.mapID, w.attempt, err)
		w.finish(err)
		return MapStatus{}, err
	}
	w.finish(errWriterDone)
	return st, nil
}

// Abort discards everything written so far and removes temporary files. It
// does nothing if the writer was already committed or aborted.
func (w *Writer) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.finish(errWriterDone)
	}
}

// finish makes err the answer to every later call and frees the writer's
// resources.
func (w *Writer) finish(err error) {
	w.err = err
	w.releaseLocked()
	for _, recs := range w.buf {
		releaseAll(recs)
	}
	w.buf = nil
	for _, s := range w.spills {
		s.f.Close()
		os.Remove(s.f.Name())
	}
	w.spills = nil
}

// spill moves every buffered record into a new spill file.
func (w *Writer) spill() error {
	f, err := os.CreateTemp(w.m.shuffleDir(w.shuffleID), w.tempPattern("spill"))
	if err != nil {
		return err
	}
	s := &spill{f: f, runs: make([]run, w.numReduce)}
	w.spills = append(w.spills, s) // from now on finish removes it
	bw := bufio.NewWriterSize(f, 1<<20)
	sw := &segmentWriter{w: bw}
	for r, recs := range w.buf {
		if len(recs) == 0 {
			continue
		}
		start := sw.n
		if err := w.encodeRecords(sw, recs); err != nil {
			return err
		}
		s.runs[r] = run{off: start, len: sw.n - start}
		releaseAll(recs)
		w.buf[r] = recs[:0]
	}
	w.buffered = 0
	w.releaseLocked()
	return bw.Flush()
}

// commit writes the output under temporary names and asks the manager to
// install it.
func (w *Writer) commit() (MapStatus, error) {
	dir := w.m.shuffleDir(w.shuffleID)
	df, err := os.CreateTemp(dir, w.tempPattern("data"))
	if err != nil {
		return MapStatus{}, err
	}
	defer os.Remove(df.Name()) // fails harmlessly once renamed
	defer df.Close()

	x := &index{
		offsets:   make([]int64, w.numReduce+1),
		rows:      slices.Clone(w.rows),
		checksums: make([]uint32, w.numReduce),
	}
	bw := bufio.NewWriterSize(df, 1<<20)
	sw := &segmentWriter{w: bw}
	for r := range w.numReduce {
		sw.crc = 0
		if w.rows[r] > 0 {
			if err := w.writeSegment(sw, r); err != nil {
				return MapStatus{}, err
			}
		}
		x.offsets[r+1] = sw.n
		x.checksums[r] = sw.crc
	}
	if err := bw.Flush(); err != nil {
		return MapStatus{}, err
	}
	if err := df.Close(); err != nil {
		return MapStatus{}, err
	}

	xf, err := os.CreateTemp(dir, w.tempPattern("index"))
	if err != nil {
		return MapStatus{}, err
	}
	defer os.Remove(xf.Name())
	_, err = xf.Write(x.marshal())
	if cerr := xf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return MapStatus{}, err
	}
	return w.m.install(w.shuffleID, w.mapID, df.Name(), xf.Name(), x)
}

// writeSegment writes the complete IPC stream of reduce partition r: the
// schema message, the spilled runs in spill order, the buffered records and
// the end-of-stream marker.
func (w *Writer) writeSegment(sw *segmentWriter, r int) error {
	if _, err := sw.Write(w.header); err != nil {
		return err
	}
	for _, s := range w.spills {
		if run := s.runs[r]; run.len > 0 {
			if _, err := io.Copy(sw, io.NewSectionReader(s.f, run.off, run.len)); err != nil {
				return fmt.Errorf("read spill: %w", err)
			}
		}
	}
	if len(w.buf[r]) > 0 {
		if err := w.encodeRecords(sw, w.buf[r]); err != nil {
			return err
		}
	}
	_, err := sw.Write(endOfStream[:])
	return err
}

// encodeRecords writes recs to dst as IPC record batch messages, with
// neither the schema message that opens a stream nor the marker that ends it.
func (w *Writer) encodeRecords(dst io.Writer, recs []arrow.Record) error {
	bw := &bodyWriter{w: dst, header: w.header}
	iw := ipc.NewWriter(bw, w.opts...)
	err := coalesce(recs, w.m.mem, iw.Write)
	bw.discard = true
	if cerr := iw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("encode records: %w", err)
	}
	return nil
}

// targetBatchRows is the number of rows up to which consecutive small
// records of a partition are merged before encoding. Partitioning splits
// each input batch into many small records; encoded one by one, each would
// pay for its own message metadata and compressor and compress poorly.
const targetBatchRows = 8192

// tempPattern returns an os.CreateTemp pattern for a temporary file of this
// attempt, distinct from every final file name.
func (w *Writer) tempPattern(kind string) string {
	return fmt.Sprintf("map_%d_%d_*.%s.tmp", w.mapID, w.attempt, kind)
}

// endOfStream is the marker that ends an IPC stream: a continuation token
// followed by a zero metadata length.
var endOfStream = [8]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}

// encodeHeader returns the bytes an IPC stream written with opts starts
// with, that is everything an empty stream holds but its end marker.
func encodeHeader(opts []ipc.Option) ([]byte, error) {
	var b bytes.Buffer
	if err := ipc.NewWriter(&b, opts...).Close(); err != nil {
		return nil, fmt.Errorf("shuffle: encode schema: %w", err)
	}
	h, ok := bytes.CutSuffix(b.Bytes(), endOfStream[:])
	if !ok {
		return nil, errors.New("shuffle: encode schema: unexpected IPC stream layout")
	}
	return h, nil
}

// bodyWriter passes on the bytes of an IPC stream except its header, which
// it checks against the expected one, and everything written once discard
// is set. This lets record batches encoded by separate ipc.Writers be
// spliced into a single stream.
type bodyWriter struct {
	w       io.Writer
	header  []byte
	seen    int // bytes of header consumed so far
	discard bool
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if b.discard {
		return len(p), nil
	}
	n := len(p)
	if b.seen < len(b.header) {
		k := min(len(p), len(b.header)-b.seen)
		if !bytes.Equal(p[:k], b.header[b.seen:b.seen+k]) {
			return 0, errors.New("shuffle: IPC writer emitted an unexpected schema message")
		}
		b.seen += k
		p = p[k:]
	}
	if len(p) > 0 {
		if _, err := b.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// segmentWriter counts the bytes written through it and keeps their running
// CRC32-C.
type segmentWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (s *segmentWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.n += int64(n)
	s.crc = crc32.Update(s.crc, castagnoli, p[:n])
	return n, err
}

// coalesce calls fn on recs, merging runs of consecutive records that
// together hold at most targetBatchRows rows into one record. Should merging
// fail, the records go to fn unmerged.
func coalesce(recs []arrow.Record, mem memory.Allocator, fn func(arrow.Record) error) error {
	for len(recs) > 0 {
		n, rows := 1, recs[0].NumRows()
		for n < len(recs) && rows+recs[n].NumRows() <= targetBatchRows {
			rows += recs[n].NumRows()
			n++
		}
		if n > 1 {
			if rec, err := concatRecords(recs[:n], rows, mem); err == nil {
				err = fn(rec)
				rec.Release()
				if err != nil {
					return err
				}
				recs = recs[n:]
				continue
			}
		}
		for _, rec := range recs[:n] {
			if err := fn(rec); err != nil {
				return err
			}
		}
		recs = recs[n:]
	}
	return nil
}

// concatRecords returns the rows of recs, which share a schema, as one
// record.
func concatRecords(recs []arrow.Record, rows int64, mem memory.Allocator) (arrow.Record, error) {
	schema := recs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(recs))
	for i := range cols {
		for j, rec := range recs {
			parts[j] = rec.Column(i)
		}
		var err error
		if cols[i], err = array.Concatenate(parts, mem); err != nil {
			return nil, err
		}
	}
	return array.NewRecord(schema, cols, rows), nil
}

// releaseAll releases recs and clears the slice so it holds no references.
func releaseAll(recs []arrow.Record) {
	for i, rec := range recs {
		rec.Release()
		recs[i] = nil
	}
}
