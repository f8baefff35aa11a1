package rdd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/ember-go/ember/task"
	"github.com/klauspost/compress/zstd"
)

// Parallelize distributes a copy of data over numPartitions partitions
// (the session's default parallelism if numPartitions <= 0), in order.
func Parallelize[T any](s *Session, data []T, numPartitions int) *RDD[T] {
	n := sourcePartitions(s, numPartitions)
	data = slices.Clone(data)
	r := newRDD(s, "Parallelize", n, nil, func(tc *task.Context, p int) stream[T] {
		lo, hi := split(len(data), n, p)
		return sliceStream(tc, data[lo:hi])
	})
	if s != nil && r.err == nil {
		// The data is the driver's: executors that rebuild the RDD use
		// the driver's copy, not their own.
		fromDriver(s.inv, r.id, &data)
	}
	return r
}

// Range returns the int64s from start up to, not including, end.
func Range(s *Session, start, end int64, numPartitions int) *RDD[int64] {
	n := sourcePartitions(s, numPartitions)
	total := max(end-start, 0)
	var bs int
	if s != nil {
		bs = s.cfg.BatchSize
	}
	return newRDD(s, "Range", n, nil, func(tc *task.Context, p int) stream[int64] {
		lo, hi := split64(total, int64(n), int64(p))
		return func(yield func([]int64) bool) error {
			buf := make([]int64, 0, bs)
			for i := start + lo; i < start+hi; {
				if err := tc.Context().Err(); err != nil {
					return err
				}
				buf = buf[:0]
				for ; i < start+hi && len(buf) < bs; i++ {
					buf = append(buf, i)
				}
				if !yield(buf) {
					return nil
				}
			}
			return nil
		}
	})
}

// Generate makes an RDD whose partition p holds the values gen(p) yields.
// gen runs inside tasks, once per computation of a partition, so it must
// give the same values every time it is called with the same partition.
func Generate[T any](s *Session, numPartitions int, gen func(partition int) iter.Seq[T]) *RDD[T] {
	n := sourcePartitions(s, numPartitions)
	r := newRDD[T](s, "Generate", n, nil, nil, nilFunc("gen", gen == nil))
	r.compute = func(tc *task.Context, p int) stream[T] {
		return func(yield func([]T) bool) error {
			return r.batches(tc, gen(p), yield)
		}
	}
	return r
}

// TextFile reads the lines of a text file, of the files in a directory, or
// of the files a glob pattern matches, without their line endings. Each file
// is cut into byte ranges so that there are at least minPartitions
// partitions (the session's default parallelism if minPartitions <= 0); a
// line belongs to the range where it starts.
func TextFile(s *Session, path string, minPartitions int) *RDD[string] {
	n := sourcePartitions(s, minPartitions)
	splits, err := textSplits(path, n)
	r := newRDD[string](s, "TextFile", len(splits), nil, nil, err)
	r.compute = func(tc *task.Context, p int) stream[string] {
		return func(yield func([]string) bool) error {
			var readErr error
			if err := r.batches(tc, splits[p].lines(maxLine(s), &readErr), yield); err != nil {
				return err
			}
			return readErr
		}
	}
	r.inputBytes = func(p int) int64 { return splits[p].end - splits[p].start }
	return r
}

// fileSize is the size of path, or 0 if it cannot be read (then reading
// it failed already, with a clearer error).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// batches cuts a sequence of values into batches, checking for cancellation
// between them.
func (r *RDD[T]) batches(tc *task.Context, seq iter.Seq[T], yield func([]T) bool) (err error) {
	bs := r.batchSize()
	buf := make([]T, 0, bs)
	stopped := false
	func() {
		defer r.guard()
		for v := range seq {
			buf = append(buf, v)
			if len(buf) == bs {
				if err = tc.Context().Err(); err != nil || !yield(buf) {
					stopped = true
					return
				}
				buf = buf[:0]
			}
		}
	}()
	if err != nil || stopped || len(buf) == 0 {
		return err
	}
	yield(buf)
	return nil
}

// sliceStream yields a slice in batches. The batches are views of data:
// consumers never write to batches they are given.
func sliceStream[T any](tc *task.Context, data []T) stream[T] {
	const bs = 4096
	return func(yield func([]T) bool) error {
		for lo := 0; lo < len(data); lo += bs {
			if err := tc.Context().Err(); err != nil {
				return err
			}
			if !yield(data[lo:min(lo+bs, len(data))]) {
				return nil
			}
		}
		return nil
	}
}

// textSplit is a byte range of one file.
type textSplit struct {
	path       string
	start, end int64
}

func textSplits(path string, minPartitions int) ([]textSplit, error) {
	files, err := listFiles(path)
	if err != nil {
		return nil, err
	}
	var total int64
	sizes := make([]int64, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		sizes[i] = fi.Size()
		total += fi.Size()
	}
	goal := max(total/int64(max(minPartitions, 1)), 1)
	if rem := total % int64(max(minPartitions, 1)); rem != 0 {
		goal++
	}
	var splits []textSplit
	for i, f := range files {
		if sizes[i] == 0 || compressed(f) {
			// A compressed file cannot be entered mid-way: it is one split.
			splits = append(splits, textSplit{path: f, end: sizes[i]})
			continue
		}
		for off := int64(0); off < sizes[i]; off += goal {
			splits = append(splits, textSplit{path: f, start: off, end: min(off+goal, sizes[i])})
		}
	}
	return splits, nil
}

func listFiles(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	fi, err := os.Stat(path)
	if err == nil && !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	if err == nil {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || name[0] == '.' || name[0] == '_' {
				continue // hidden files and markers such as _SUCCESS
			}
			files = append(files, filepath.Join(path, name))
		}
		return files, nil
	}
	matches, gerr := filepath.Glob(path)
	if gerr != nil || len(matches) == 0 {
		return nil, err // the Stat error says what is missing
	}
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
			files = append(files, m)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no files match", path)
	}
	return files, nil
}

// lines yields the lines that start inside the split. A read error ends
// the sequence and is stored in *errp.
func (sp textSplit) lines(maxLine int64, errp *error) iter.Seq[string] {
	return func(yield func(string) bool) {
		if err := sp.eachLine(maxLine, yield); err != nil {
			*errp = fmt.Errorf("reading %s: %w", sp.path, err)
		}
	}
}

func (sp textSplit) eachLine(maxLine int64, yield func(string) bool) error {
	if compressed(sp.path) {
		return sp.eachCompressedLine(maxLine, yield)
	}
	f, err := os.Open(sp.path)
	if err != nil {
		return err
	}
	defer f.Close()
	pos := sp.start
	if sp.start > 0 {
		// The line that holds byte start-1 belongs to the previous split:
		// skip to its end.
		pos = sp.start - 1
	}
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(&boundedLines{r: f, max: maxLine, pos: pos}, 1<<16)
	if sp.start > 0 {
		for {
			skipped, err := br.ReadSlice('\n')
			pos += int64(len(skipped))
			if err == io.EOF {
				return nil
			}
			if err == nil {
				break
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return err
			}
		}
	}
	return scanLines(br, pos, sp.end, yield)
}

// boundedLines passes r on, failing once a line runs past max bytes, so
// that a file without newlines cannot grow a reader's buffers without
// bound (TextFile's and CSVFile's). It counts from the last newline of
// each read: a line inside one read is bounded by the read's size.
type boundedLines struct {
	r   io.Reader
	max int64
	run int64 // bytes since the last newline
	pos int64 // the input's offset after the bytes read
}

func (b *boundedLines) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
		b.run = int64(n - i - 1)
	} else {
		b.run += int64(n)
	}
	b.pos += int64(n)
	if b.run > b.max {
		return n, lineTooLong(b.pos-b.run, b.max)
	}
	return n, err
}

// lineTooLong is the error of a line, starting at byte at, longer than
// max: permanent, as a retry would meet the same line.
func lineTooLong(at, max int64) error {
	return task.Permanent(fmt.Errorf("the line at byte %d is longer than %d bytes (input.maxLineLength)", at, max))
}

// maxLine is the bound on an input's lines in s.
func maxLine(s *Session) int64 {
	if s == nil || s.cfg.MaxLineLength <= 0 {
		return DefaultMaxLineLength
	}
	return s.cfg.MaxLineLength
}

// fill reads from r until buf is full, r ends (io.EOF) or fails. Unlike
// io.ReadFull it keeps a reader's own io.ErrUnexpectedEOF (a truncated gzip
// stream) apart from the end of the input.
func fill(r io.Reader, buf []byte) ([]byte, error) {
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// lineChunk is how many bytes scanLines turns into one string at a time.
const lineChunk = 1 << 20

// scanLines yields the lines of r that start before offset end, r's first
// byte being at offset pos. It reads about a megabyte at a time into a new
// buffer that is never written again, and yields lines as substrings of it
// (unsafe.String, no copy): no allocation per line, at the price that a
// line kept keeps its chunk alive.
func scanLines(r io.Reader, pos, end int64, yield func(string) bool) error {
	var rest []byte // an unfinished line from the previous chunk
	for pos < end {
		buf := append(make([]byte, 0, max(lineChunk, 2*len(rest))), rest...)
		buf, err := fill(r, buf)
		eof := err == io.EOF
		if err != nil && !eof {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		text := unsafe.String(&buf[0], len(buf))
		i := 0
		for pos < end {
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				break
			}
			if !yield(strings.TrimSuffix(text[i:i+j], "\r")) {
				return nil
			}
			pos += int64(j + 1)
			i += j + 1
		}
		if eof {
			if i < len(text) && pos < end {
				yield(strings.TrimSuffix(text[i:], "\r"))
			}
			return nil
		}
		rest = buf[i:]
	}
	return nil
}

// compressed reports whether TextFile reads path through a decompressor,
// by its extension: .gz (gzip) or .zst (Zstandard).
func compressed(path string) bool {
	return strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".zst")
}

// eachCompressedLine yields every line of a compressed file.
func (sp textSplit) eachCompressedLine(maxLine int64, yield func(string) bool) error {
	f, err := os.Open(sp.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader
	if strings.HasSuffix(sp.path, ".gz") {
		gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	} else {
		zr, err := zstd.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	return scanLines(&boundedLines{r: r, max: maxLine}, 0, math.MaxInt64, yield)
}

func sourcePartitions(s *Session, n int) int {
	if n > 0 {
		return n
	}
	if s == nil {
		return 1
	}
	return s.cfg.DefaultParallelism
}

// split returns the bounds of part p when n items are cut into parts pieces.
func split(n, parts, p int) (lo, hi int) {
	l, h := split64(int64(n), int64(parts), int64(p))
	return int(l), int(h)
}

func split64(n, parts, p int64) (lo, hi int64) {
	return p * n / parts, (p + 1) * n / parts
}

func nilFunc(name string, isNil bool) error {
	if isNil {
		return fmt.Errorf("%s is nil", name)
	}
	return nil
}
