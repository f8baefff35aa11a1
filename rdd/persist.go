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
		_, recs, ok, err := blocks.Get(id)
		if errors.Is(err, storage.ErrBlockLost) {
			// Computed again below, and cached anew.
			slog.Warn("ember: a cached partition was lost; recomputing it", "rdd", r.String(), "partition", p, "err", err)
			ok, err = false, nil
		}
		if err != nil {
			return err
		}
		if !ok {
			recs, ok = r.remoteCached(tc, id)
		}
		if ok {
			defer releaseAll(recs)
			var rows int64
			for _, rec := range recs {
				rows += rec.NumRows()
			}
			tc.AddInput(rows, storage.RecordsSize(recs))
			return r.yieldRecords(recs, yield)
		}
		enc := r.codec.NewEncoder(nil)
		defer enc.Release()
		var out []arrow.Record
		defer func() { releaseAll(out) }()
		complete := true
		err = r.computed(tc, p)(func(b []T) bool {
			enc.Append(b...)
			if enc.Len() >= recordRows {
				out = append(out, enc.NewRecord())
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
		if enc.Len() > 0 || len(out) == 0 {
			out = append(out, enc.NewRecord())
		}
		// The partition was computed and passed on: a failure to keep it
		// (a full disk while spilling) costs a recomputation later, not
		// this task.
		if _, err := blocks.Put(id, r.codec.Schema(), out, level); err != nil {
			slog.Warn("ember: could not cache a partition", "rdd", r.String(), "partition", p, "level", level.String(), "err", err)
		} else {
			mem, disk, _ := blocks.Sizes(id)
			tc.NoteStored(task.StoredBlock{ID: string(id), Memory: mem, Disk: disk})
		}
		return nil
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
