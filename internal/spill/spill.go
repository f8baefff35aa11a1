// Package spill holds the data structures of operators whose data may not
// fit in memory: a sorter and a combining hash map that keep what fits in
// their task's share of the memory budget and spill the rest to disk in
// sorted runs (compressed Arrow IPC files), merged when read back, as
// Spark's ExternalSorter and ExternalAppendOnlyMap do.
package spill

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/ember-go/ember/internal/codec"
)

// Memory is what a spilling structure draws on: its task's share of the
// memory budget, a directory for its files, and the task's spill counts.
// *task.Context is one.
type Memory interface {
	// Reserve asks for n more bytes and returns how many were granted.
	Reserve(n int64) int64
	// Free gives back n bytes reserved.
	Free(n int64)
	// SpillDir returns the task's directory for spill files.
	SpillDir() (string, error)
	// AddSpill counts data spilled: its estimated size in memory and
	// its size on disk.
	AddSpill(memoryBytes, diskBytes int64)
}

// Entry is a key and its value, as a Map spills them.
type Entry[K, V any] struct {
	Key   K
	Value V
}

// reserveChunk is the least a structure asks of the budget at a time, so
// that it does not take the budget's lock for every element.
const reserveChunk = 1 << 20

// runBatch is how many elements a run file holds per record, and so how
// many of each run a merge holds in memory.
const runBatch = 1024

// maxMergeWidth bounds how many runs are merged at once: more are first
// merged into fewer, longer runs.
const maxMergeWidth = 64

// Reservation accounts the estimated bytes a structure holds against what
// it reserved from its task's budget, reserving a chunk at a time so that
// it does not take the budget's lock for every element. The spilling
// structures hold one, as may any other structure of an operator.
type Reservation struct {
	mem      Memory
	reserved int64
	used     int64
}

// NewReservation returns an empty reservation on mem.
func NewReservation(mem Memory) Reservation { return Reservation{mem: mem} }

// grow accounts n more bytes and reports whether they fit in what is
// reserved, reserving more if need be; false means spill, and leaves the
// n bytes accounted: they are what the spill frees.
func (t *Reservation) grow(n int64) bool {
	t.used += n
	if t.used <= t.reserved {
		return true
	}
	want := max(t.used-t.reserved, reserveChunk, t.reserved/8)
	t.reserved += t.mem.Reserve(want)
	return t.used <= t.reserved
}

// Try accounts n more bytes if they fit in what is reserved, reserving
// more if need be, and reports whether they did; if not, nothing is
// accounted.
func (t *Reservation) Try(n int64) bool {
	if t.grow(n) {
		return true
	}
	t.used -= n
	return false
}

// Shrink accounts n bytes fewer, keeping them reserved.
func (t *Reservation) Shrink(n int64) { t.used -= n }

// Release gives back all that is reserved.
func (t *Reservation) Release() {
	t.mem.Free(t.reserved)
	t.reserved, t.used = 0, 0
}

// run is a spill file: sorted elements in records of runBatch rows.
type run struct {
	path string
	rows int64
}

// runWriter writes one run.
type runWriter[T any] struct {
	c    *codec.Codec[T]
	f    *os.File
	w    *ipc.Writer
	rows int64
}

// newRun creates a run file in dir.
func newRun[T any](c *codec.Codec[T], dir string) (*runWriter[T], error) {
	f, err := os.CreateTemp(dir, "run-*.arrows")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	w := ipc.NewWriter(f, ipc.WithSchema(c.Schema()), ipc.WithLZ4(), ipc.WithAllocator(memory.DefaultAllocator))
	return &runWriter[T]{c: c, f: f, w: w}, nil
}

// write appends elements, in order, in records of at most runBatch.
func (rw *runWriter[T]) write(xs []T) error {
	for len(xs) > 0 {
		n := min(len(xs), runBatch)
		rec := rw.c.Encode(nil, xs[:n])
		err := rw.w.Write(rec)
		rec.Release()
		if err != nil {
			return fmt.Errorf("spill: write %s: %w", rw.f.Name(), err)
		}
		rw.rows += int64(n)
		xs = xs[n:]
	}
	return nil
}

// finish closes the file and returns the run and its size on disk.
func (rw *runWriter[T]) finish() (*run, int64, error) {
	err := errors.Join(rw.w.Close(), rw.f.Sync())
	st, serr := rw.f.Stat()
	err = errors.Join(err, serr, rw.f.Close())
	if err != nil {
		os.Remove(rw.f.Name())
		return nil, 0, fmt.Errorf("spill: write %s: %w", rw.f.Name(), err)
	}
	return &run{path: rw.f.Name(), rows: rw.rows}, st.Size(), nil
}

// abort removes a run being written.
func (rw *runWriter[T]) abort() {
	rw.w.Close()
	rw.f.Close()
	os.Remove(rw.f.Name())
}

// writeRun writes xs, in order, as a run in dir.
func writeRun[T any](c *codec.Codec[T], dir string, xs []T) (*run, int64, error) {
	rw, err := newRun(c, dir)
	if err != nil {
		return nil, 0, err
	}
	if err := rw.write(xs); err != nil {
		rw.abort()
		return nil, 0, err
	}
	return rw.finish()
}

// readRun yields the elements of a run, one record's worth at a time;
// the slices it yields are the caller's to keep.
func readRun[T any](r *run, c *codec.Codec[T]) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		f, err := os.Open(r.path)
		if err != nil {
			yield(nil, fmt.Errorf("spill: read run: %w", err))
			return
		}
		defer f.Close()
		rd, err := ipc.NewReader(f, ipc.WithSchema(c.Schema()), ipc.WithAllocator(memory.DefaultAllocator))
		if err != nil {
			yield(nil, fmt.Errorf("spill: read %s: %w", filepath.Base(r.path), err))
			return
		}
		defer rd.Release()
		for rd.Next() {
			xs, err := c.Decode(rd.Record(), nil)
			if err != nil {
				yield(nil, fmt.Errorf("spill: read %s: %w", filepath.Base(r.path), err))
				return
			}
			if !yield(xs, nil) {
				return
			}
		}
		if err := rd.Err(); err != nil {
			yield(nil, fmt.Errorf("spill: read %s: %w", filepath.Base(r.path), err))
		}
	}
}

// remove deletes the run's file.
func (r *run) remove() { os.Remove(r.path) }

// narrowRuns merges the first maxMergeWidth runs into one, with merge,
// until at most maxMergeWidth are left, and returns the runs left.
func narrowRuns[T any](mem Memory, c *codec.Codec[T], runs []*run, merge func([]iter.Seq2[[]T, error]) iter.Seq2[T, error]) ([]*run, error) {
	for len(runs) > maxMergeWidth {
		dir, err := mem.SpillDir()
		if err != nil {
			return runs, err
		}
		group := runs[:maxMergeWidth]
		sources := make([]iter.Seq2[[]T, error], len(group))
		for i, r := range group {
			sources[i] = readRun(r, c)
		}
		merged, err := writeMerged(c, dir, merge(sources))
		if err != nil {
			return runs, err
		}
		for _, r := range group {
			r.remove()
		}
		runs = append([]*run{merged}, runs[maxMergeWidth:]...)
	}
	return runs, nil
}

// writeMerged writes what xs yields, in order, as a run in dir.
func writeMerged[T any](c *codec.Codec[T], dir string, xs iter.Seq2[T, error]) (*run, error) {
	rw, err := newRun(c, dir)
	if err != nil {
		return nil, err
	}
	batch := make([]T, 0, runBatch)
	for x, err := range xs {
		if err == nil && len(batch) == runBatch {
			err = rw.write(batch)
			batch = batch[:0]
		}
		if err != nil {
			rw.abort()
			return nil, err
		}
		batch = append(batch, x)
	}
	if err := rw.write(batch); err != nil {
		rw.abort()
		return nil, err
	}
	r, _, err := rw.finish()
	return r, err
}
