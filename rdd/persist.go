package rdd

import (
	"errors"
	"log/slog"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
)

// StorageLevel says where a persisted RDD keeps its partitions.
type StorageLevel = storage.Level

// Storage levels, as in Spark. A partition evicted from memory is spilled to
// disk when its level allows disk, and otherwise recomputed from lineage
// when next needed.
var (
	MemoryOnly    = storage.MemoryOnly
	MemoryAndDisk = storage.MemoryAndDisk
	DiskOnly      = storage.DiskOnly
)

// Cache keeps the RDD's partitions in memory once computed: Persist(MemoryOnly).
func (r *RDD[T]) Cache() *RDD[T] { return r.Persist(MemoryOnly) }

// Persist keeps the RDD's partitions, as Arrow records, at level once an
// action computed them. It returns r.
func (r *RDD[T]) Persist(level StorageLevel) *RDD[T] {
	r.levelMu.Lock()
	r.level = level
	r.levelMu.Unlock()
	return r
}

// Unpersist drops the RDD's stored partitions and stops persisting it.
func (r *RDD[T]) Unpersist() {
	if r.s != nil && r.s.replayCaptured() {
		// A deferred Unpersist, run as an executor's rebuild unwinds:
		// the job it rebuilt still reads the RDD persisted.
		return
	}
	r.Persist(storage.None)
	if r.s != nil && !r.s.replaying() {
		r.s.engine.Unpersist(r.id)
	}
}

// StorageLevel returns the level set by Persist.
func (r *RDD[T]) StorageLevel() StorageLevel { return r.storageLevel() }

// recordRows is how many rows go in one Arrow record of a stored partition.
const recordRows = 1 << 16

// cached reads partition p from the block manager, or computes it and stores
// it there while passing it on.
func (r *RDD[T]) cached(tc *task.Context, p int, level storage.Level) stream[T] {
	blocks := tc.Env.Blocks
	id := storage.RDDBlock(r.id, p)
	return func(yield func([]T) bool) error {
		ok, err := r.readCached(tc, id, yield)
		if errors.Is(err, storage.ErrBlockLost) && !ok {
			// Computed again below, and cached anew.
			slog.Warn("ember: a cached partition was lost; recomputing it", "rdd", r.String(), "partition", p, "err", err)
			err = nil
		}
		if ok || err != nil {
			return err
		}
		if recs, ok := r.remoteCached(tc, id); ok {
			defer releaseAll(recs)
			tc.AddInput(rowsOf(recs), storage.RecordsSize(recs))
			return r.yieldRecords(recs, yield)
		}
		keep := &partitionKeeper{tc: tc, blocks: blocks, id: id, schema: r.codec.Schema(), level: level}
		defer keep.drop()
		enc := r.codec.NewEncoder(nil)
		defer enc.Release()
		complete := true
		err = r.computed(tc, p)(func(b []T) bool {
			enc.Append(b...)
			if enc.Len() >= recordRows {
				keep.add(enc.NewRecord())
			}
			if !yield(b) {
				complete = false
				return false
			}
			return true
		})
		if err != nil || !complete {
			return err
		}
		if enc.Len() > 0 || keep.empty() {
			keep.add(enc.NewRecord())
		}
		// The partition was computed and passed on: a failure to keep it
		// (a full disk while spilling) costs a recomputation later, not
		// this task.
		if err := keep.store(); err != nil {
			slog.Warn("ember: could not cache a partition", "rdd", r.String(), "partition", p, "level", level.String(), "err", err)
		} else if mem, disk, ok := blocks.Sizes(id); ok {
			tc.NoteStored(task.StoredBlock{ID: string(id), Memory: mem, Disk: disk})
		}
		return nil
	}
}

// readCached yields block id if this executor holds it, a record at a
// time; ok says it did. A block lost before any of it was yielded reports
// ErrBlockLost with ok false, to be recomputed.
func (r *RDD[T]) readCached(tc *task.Context, id storage.BlockID, yield func([]T) bool) (ok bool, err error) {
	_, recs, ok, err := tc.Env.Blocks.Records(id)
	if err != nil || !ok {
		return false, err
	}
	yielded := false
	for rec, err := range recs {
		if err != nil {
			return yielded, err
		}
		tc.AddInput(rec.NumRows(), storage.RecordsSize([]arrow.Record{rec}))
		yielded = true
		err = r.yieldRecords([]arrow.Record{rec}, yield)
		rec.Release()
		if err != nil {
			return true, err
		}
	}
	return true, nil
}

func rowsOf(recs []arrow.Record) int64 {
	var rows int64
	for _, rec := range recs {
		rows += rec.NumRows()
	}
	return rows
}

// partitionKeeper gathers the records of a partition being cached within
// the task's share of memory: past it, a level with Disk streams the
// records to a block file, and any other gives up caching the partition,
// which is then recomputed when needed (as Spark drops a MemoryOnly block
// that does not fit).
type partitionKeeper struct {
	tc     *task.Context
	blocks *storage.Manager
	id     storage.BlockID
	schema *arrow.Schema
	level  storage.Level

	recs     []arrow.Record
	held     int64 // reserved for recs
	file     *storage.BlockWriter
	given    bool // up: the partition is not cached
	fileErr  error
	anything bool
}

func (k *partitionKeeper) empty() bool { return !k.anything }

// add keeps rec, which it owns from now on.
func (k *partitionKeeper) add(rec arrow.Record) {
	k.anything = true
	switch {
	case k.given || k.fileErr != nil:
		rec.Release()
		return
	case k.file != nil:
		k.toFile(rec)
		return
	}
	size := storage.RecordsSize([]arrow.Record{rec})
	got := k.tc.Reserve(size)
	k.held += got
	k.recs = append(k.recs, rec)
	if got == size {
		return
	}
	// Refused: out of memory, onto disk or given up.
	if !k.level.Disk {
		k.drop()
		k.given = true
		return
	}
	k.file, k.fileErr = k.blocks.NewBlockWriter(k.id, k.schema, k.level)
	recs := k.recs
	k.recs = nil
	for _, r := range recs {
		k.toFile(r)
	}
	k.tc.Free(k.held)
	k.held = 0
}

func (k *partitionKeeper) toFile(rec arrow.Record) {
	if k.fileErr == nil {
		k.fileErr = k.file.Write(rec)
	}
	rec.Release()
}

// store hands the partition to the block manager.
func (k *partitionKeeper) store() error {
	switch {
	case k.given:
		return nil
	case k.fileErr != nil:
		return k.fileErr
	case k.file != nil:
		f := k.file
		k.file = nil
		_, err := f.Commit()
		return err
	}
	_, err := k.blocks.Put(k.id, k.schema, k.recs, k.level)
	return err
}

// drop releases what the keeper holds.
func (k *partitionKeeper) drop() {
	releaseAll(k.recs)
	k.recs = nil
	k.tc.Free(k.held)
	k.held = 0
	if k.file != nil {
		k.file.Abort()
		k.file = nil
	}
}

// remoteCached reads a cached partition from the executor that holds it,
// if the driver said one does; ok is false if none does or the read
// failed, and then the partition is computed.
func (r *RDD[T]) remoteCached(tc *task.Context, id storage.BlockID) (recs []arrow.Record, ok bool) {
	at := tc.CachedAt(string(id))
	if at == "" || tc.Env.RemoteCached == nil {
		return nil, false
	}
	for rec, err := range tc.Env.RemoteCached(tc.Context(), at, string(id)) {
		if err != nil {
			releaseAll(recs)
			slog.Debug("ember: cached partition not fetched; computing it", "rdd", r.String(), "from", at, "err", err)
			return nil, false
		}
		recs = append(recs, rec)
	}
	return recs, true
}

// yieldRecords decodes Arrow records into batches, zero-copy for primitive
// element types.
func (r *RDD[T]) yieldRecords(recs []arrow.Record, yield func([]T) bool) error {
	for _, rec := range recs {
		// Views of Arrow buffers cost nothing however long: pass whole
		// records, and let operators that copy cut them to BatchSize.
		bs := r.batchSize()
		if r.codec.ZeroCopy() {
			bs = max(int(rec.NumRows()), 1)
		}
		for b, err := range r.codec.Batches(rec, bs) {
			if err != nil {
				return err
			}
			if len(b) > 0 && !yield(b) {
				return nil
			}
		}
	}
	return nil
}

func releaseAll(recs []arrow.Record) {
	for _, rec := range recs {
		rec.Release()
	}
}
