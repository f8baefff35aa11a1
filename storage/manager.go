package storage

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// DefaultMemoryLimit is the memory store size used when Config.MemoryLimit
// is zero: 1 GiB.
const DefaultMemoryLimit int64 = 1 << 30

// Config configures a [Manager].
type Config struct {
	// MemoryLimit is the number of bytes of record buffers the memory store
	// may hold. Zero means DefaultMemoryLimit.
	MemoryLimit int64

	// Dir is the disk store directory. It is created if missing, and left
	// in place by Close, though emptied of block files. "" means a new
	// temporary directory, which Close removes.
	Dir string

	// Allocator allocates the records read back from disk and the buffers
	// used to write them. nil means memory.DefaultAllocator.
	Allocator memory.Allocator

	// Budget, if set, is the process's memory budget, which cached blocks
	// share with running tasks: the memory store then holds at most what
	// the tasks leave (and MemoryLimit), and gives memory back to them by
	// evicting blocks. nil: the store has MemoryLimit to itself.
	Budget *MemoryManager
}

// PutResult reports where Put stored a block. Both fields are false when a
// MemoryOnly block was larger than the whole memory store and was dropped.
type PutResult struct {
	InMemory bool
	OnDisk   bool
}

// Status is a snapshot of a Manager's stores.
type Status struct {
	MemoryUsed  int64
	MemoryLimit int64
	DiskUsed    int64
	Blocks      []BlockStatus // ordered by RDD id, then partition
}

// BlockStatus describes one stored block. A size is zero when the block is
// not in that store.
type BlockStatus struct {
	ID       BlockID
	Level    Level // the level the block was put at
	MemSize  int64
	DiskSize int64
}

// Manager stores blocks in memory and on disk. It is safe for concurrent use.
//
// The memory store holds the records themselves, without copying, and
// accounts each block as the sum of its records' buffer lengths. The disk
// store holds one Arrow IPC file per block.
type Manager struct {
	limit  int64
	budget *MemoryManager // nil: limit alone bounds the memory store
	dir    string
	ownDir bool // dir was created by NewManager and is removed by Close
	mem    memory.Allocator

	// inflight counts disk reads and writes running without mu held, so
	// that Close can wait for them before it removes their files.
	inflight sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	blocks   map[BlockID]*block
	lru      *list.List // blocks counted in memUsed, most recently used first
	memUsed  int64
	diskUsed int64
}

// block is the Manager's record of one stored block. Its fields other than
// the immutable id, rdd, partition, level and schema are guarded by
// Manager.mu.
//
// A block is in one of these states:
//   - in memory: records != nil, elem != nil, counted in memUsed;
//   - spilling: evicted from memory and being written to disk; records are
//     still held so readers are served, but elem == nil and memSize == 0,
//     since the memory is about to be freed;
//   - on disk: onDisk, possibly also in memory after a Get re-cached it.
//
// A block removed from Manager.blocks is dead; a pending spill of it
// notices by comparing pointers and discards its file.
type block struct {
	id             BlockID
	rdd, partition int
	level          Level
	schema         *arrow.Schema
	records        []arrow.Record // one reference each, owned by the block
	memSize        int64
	elem           *list.Element
	onDisk         bool
	diskSize       int64
}

// spill is a block evicted from memory that must be written to disk. It
// holds its own references to the records, so the write is unaffected by a
// concurrent Remove.
type spill struct {
	b       *block
	records []arrow.Record
}

// Usage returns the bytes the memory store holds and may hold, and the
// bytes the disk store holds: Status without the list of blocks.
func (m *Manager) Usage() (memory, limit, disk int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memUsed, m.limitLocked(), m.diskUsed
}

// limitLocked is how many bytes the memory store may hold now: its own
// limit, and what the budget's running tasks leave. m.mu is held.
func (m *Manager) limitLocked() int64 {
	if m.budget == nil {
		return m.limit
	}
	return min(m.limit, m.budget.storageLimit())
}

// usedLocked records a change of memUsed in the budget. m.mu is held.
func (m *Manager) usedLocked() {
	if m.budget != nil {
		m.budget.setStorageUsed(m.memUsed)
	}
}

// evictTo evicts least-recently-used blocks until the memory store holds
// at most target bytes, spilling those whose level includes Disk: how the
// budget gives memory to tasks.
func (m *Manager) evictTo(target int64) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	spills := m.evictDownLocked(target)
	m.mu.Unlock()
	for _, s := range spills {
		m.spill(s) // a failed spill drops the block, to be recomputed
	}
}

// Sizes returns the bytes block id takes in memory and on disk; ok is
// false if the block is not stored.
func (m *Manager) Sizes(id BlockID) (memory, disk int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.blocks[id]
	if b == nil {
		return 0, 0, false
	}
	if b.onDisk {
		disk = b.diskSize
	}
	return b.memSize, disk, true
}

// NewManager returns a Manager configured by cfg.
func NewManager(cfg Config) (*Manager, error) {
	m := &Manager{
		limit:  cfg.MemoryLimit,
		budget: cfg.Budget,
		dir:    cfg.Dir,
		mem:    cfg.Allocator,
		blocks: make(map[BlockID]*block),
		lru:    list.New(),
	}
	if m.limit < 0 {
		return nil, fmt.Errorf("storage: negative memory limit %d", m.limit)
	}
	if m.limit == 0 {
		m.limit = DefaultMemoryLimit
	}
	if m.mem == nil {
		m.mem = memory.DefaultAllocator
	}
	if m.budget != nil {
		m.budget.mu.Lock()
		m.budget.evict = m.evictTo
		m.budget.mu.Unlock()
	}
	if m.dir == "" {
		dir, err := os.MkdirTemp("", "ember-blocks-*")
		if err != nil {
			return nil, fmt.Errorf("storage: create block directory: %w", err)
		}
		m.dir, m.ownDir = dir, true
	} else if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create block directory: %w", err)
	}
	return m, nil
}

// Put stores a block of records with the given schema at level, replacing
// any block already stored under id. It retains the records it keeps in
// memory; the caller keeps and releases its own references.
//
// A block put at a memory level goes to the memory store, evicting
// least-recently-used blocks until it fits: an evicted block whose level
// includes Disk is spilled to the disk store, any other is dropped, to be
// recomputed by the caller. A block larger than the whole memory store is
// written straight to disk if its level allows, and otherwise dropped. A
// DiskOnly block is written straight to disk.
//
// If spilling an evicted block fails, that block is dropped and Put returns
// the error together with a PutResult describing the block it did store.
func (m *Manager) Put(id BlockID, schema *arrow.Schema, records []arrow.Record, level Level) (PutResult, error) {
	rdd, part, err := ParseRDDBlock(id)
	if err != nil {
		return PutResult{}, err
	}
	if level == None {
		return PutResult{}, fmt.Errorf("storage: put %s: level %s stores nothing", id, level)
	}
	if schema == nil {
		return PutResult{}, fmt.Errorf("storage: put %s: nil schema", id)
	}
	for i, rec := range records {
		if rec == nil || !rec.Schema().Equal(schema) {
			return PutResult{}, fmt.Errorf("storage: put %s: record %d does not have the block's schema", id, i)
		}
	}
	b := &block{id: id, rdd: rdd, partition: part, level: level, schema: schema}

	size := RecordsSize(records)
	m.mu.Lock()
	fits := size <= m.limitLocked()
	m.mu.Unlock()
	switch {
	case level.Memory && fits:
		return m.putMemory(b, records, size)
	case level.Disk:
		return m.putDisk(b, records)
	}

	// A MemoryOnly block too large to keep: store nothing, but do not leave
	// an older version of the block behind either.
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return PutResult{}, ErrClosed
	}
	m.removeLocked(id)
	return PutResult{}, nil
}

// Get returns the schema and records of the block id, each record retained
// for the caller, who must release it. ok is false when the block is stored
// nowhere.
//
// A block in memory is marked recently used. A block only on disk is read
// from its file; if its level includes Memory and the memory store has room
// for it without evicting anything, it is cached in memory again. Reads do
// not evict: a scan over more data than fits would otherwise churn the
// memory store and turn reads into spill writes.
func (m *Manager) Get(id BlockID) (schema *arrow.Schema, records []arrow.Record, ok bool, err error) {
	if _, _, err := ParseRDDBlock(id); err != nil {
		return nil, nil, false, err
	}
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, nil, false, ErrClosed
		}
		b := m.blocks[id]
		if b == nil {
			m.mu.Unlock()
			return nil, nil, false, nil
		}
		if b.records != nil {
			if b.elem != nil {
				m.lru.MoveToFront(b.elem)
			}
			records = retainAll(b.records)
			m.mu.Unlock()
			return b.schema, records, true, nil
		}
		m.inflight.Add(1)
		m.mu.Unlock()

		records, err = readBlockFile(m.path(id), b.schema, m.mem)

		m.mu.Lock()
		current := m.blocks[id] == b
		if err != nil && current && !errors.Is(err, ErrClosed) {
			// The file vanished or is damaged: the block is lost, and
			// the caller recomputes it from lineage (as Spark does since
			// SPARK-15736) instead of failing every attempt.
			m.removeLocked(id)
		}
		if err == nil && current && !m.closed && b.level.Memory && b.records == nil {
			if size := RecordsSize(records); size <= m.limitLocked()-m.memUsed {
				b.records = retainAll(records)
				b.memSize = size
				b.elem = m.lru.PushFront(b)
				m.memUsed += size
				m.usedLocked()
			}
		}
		m.mu.Unlock()
		m.inflight.Done()

		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && !current {
				// The block was removed or replaced while we opened its
				// file. Look again: progress by another goroutine caused
				// this, so the loop ends.
				continue
			}
			if current {
				return nil, nil, false, fmt.Errorf("storage: get %s: %w: %w", id, ErrBlockLost, err)
			}
			return nil, nil, false, fmt.Errorf("storage: get %s: %w", id, err)
		}
		return b.schema, records, true, nil
	}
}

// Contains reports whether the block id is stored in memory or on disk.
func (m *Manager) Contains(id BlockID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blocks[id] != nil
}

// Remove removes the block id from memory and disk. Removing a block that is
// not stored does nothing.
func (m *Manager) Remove(id BlockID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(id)
}

// RemoveRDD removes all blocks of the RDD rddID from memory and disk.
func (m *Manager) RemoveRDD(rddID int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, b := range m.blocks {
		if b.rdd == rddID {
			m.removeLocked(id)
		}
	}
}

// Status returns a snapshot of the Manager's stores.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{
		MemoryUsed:  m.memUsed,
		MemoryLimit: m.limitLocked(),
		DiskUsed:    m.diskUsed,
		Blocks:      make([]BlockStatus, 0, len(m.blocks)),
	}
	for _, b := range m.sortedBlocksLocked() {
		bs := BlockStatus{ID: b.id, Level: b.level, MemSize: b.memSize}
		if b.onDisk {
			bs.DiskSize = b.diskSize
		}
		s.Blocks = append(s.Blocks, bs)
	}
	return s
}

// Close releases every block held in memory and deletes every block file,
// removing the directory too if NewManager created it. It waits for disk
// reads and writes in progress to finish. Close is idempotent; after it,
// Put and Get return ErrClosed and the Manager stores nothing.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()

	m.inflight.Wait()

	m.mu.Lock()
	var errs []error
	for _, b := range m.blocks {
		releaseAll(b.records)
		b.records = nil
		if b.onDisk {
			if err := os.Remove(m.path(b.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	clear(m.blocks)
	m.lru.Init()
	m.memUsed, m.diskUsed = 0, 0
	m.usedLocked()
	m.mu.Unlock()

	if m.ownDir {
		if err := os.RemoveAll(m.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// putMemory stores b in the memory store, evicting as needed, then writes
// the blocks chosen for spilling with mu released.
func (m *Manager) putMemory(b *block, records []arrow.Record, size int64) (PutResult, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return PutResult{}, ErrClosed
	}
	m.removeLocked(b.id)
	spills := m.evictLocked(size)
	b.records = retainAll(records)
	b.memSize = size
	b.elem = m.lru.PushFront(b)
	m.blocks[b.id] = b
	m.memUsed += size
	m.usedLocked()
	m.mu.Unlock()

	var errs []error
	for _, s := range spills {
		if err := m.spill(s); err != nil {
			errs = append(errs, err)
		}
	}
	return PutResult{InMemory: true}, errors.Join(errs...)
}

// putDisk writes b straight to the disk store. The file is written with mu
// released and renamed into place with it held, so that the file under a
// block's name always belongs to the block in the map.
func (m *Manager) putDisk(b *block, records []arrow.Record) (PutResult, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return PutResult{}, ErrClosed
	}
	m.inflight.Add(1)
	m.mu.Unlock()
	defer m.inflight.Done()

	tmp, size, err := writeBlockFile(m.dir, b.id, b.schema, records, m.mem)
	if err != nil {
		return PutResult{}, fmt.Errorf("storage: put %s: %w", b.id, err)
	}

	return m.install(b, tmp, size)
}

// install renames the block file tmp into place as b's, replacing any
// block stored under b's id.
func (m *Manager) install(b *block, tmp string, size int64) (PutResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		os.Remove(tmp)
		return PutResult{}, ErrClosed
	}
	m.removeLocked(b.id)
	if err := os.Rename(tmp, m.path(b.id)); err != nil {
		os.Remove(tmp)
		return PutResult{}, fmt.Errorf("storage: put %s: %w", b.id, err)
	}
	b.onDisk, b.diskSize = true, size
	m.blocks[b.id] = b
	m.diskUsed += size
	return PutResult{OnDisk: true}, nil
}

// evictLocked evicts least-recently-used blocks until need more bytes fit in
// the memory store, and returns the evicted blocks that must be spilled.
// need must not exceed the limit. The caller has not yet added its own block
// to the LRU list, so that block is never evicted.
func (m *Manager) evictLocked(need int64) []spill {
	return m.evictDownLocked(m.limitLocked() - need)
}

// evictDownLocked evicts least-recently-used blocks until the memory store
// holds at most target bytes, and returns the evicted blocks that must be
// spilled.
func (m *Manager) evictDownLocked(target int64) []spill {
	defer m.usedLocked()
	var spills []spill
	for m.memUsed > target {
		e := m.lru.Back()
		if e == nil {
			break
		}
		b := e.Value.(*block)
		m.lru.Remove(e)
		b.elem = nil
		m.memUsed -= b.memSize
		b.memSize = 0
		switch {
		case b.onDisk:
			// Already on disk since a Get re-cached it: just let go of memory.
			releaseAll(b.records)
			b.records = nil
		case b.level.Disk:
			m.inflight.Add(1)
			spills = append(spills, spill{b: b, records: retainAll(b.records)})
		default:
			releaseAll(b.records)
			b.records = nil
			delete(m.blocks, b.id)
		}
	}
	return spills
}

// spill writes an evicted block to disk and then lets go of its memory. If
// the block was removed or replaced meanwhile, the file is discarded. If the
// write fails, the block is dropped.
func (m *Manager) spill(s spill) error {
	defer m.inflight.Done()
	defer releaseAll(s.records)
	b := s.b

	tmp, size, err := writeBlockFile(m.dir, b.id, b.schema, s.records, m.mem)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blocks[b.id] != b {
		if err == nil {
			os.Remove(tmp)
		}
		return nil
	}
	if err == nil {
		if err = os.Rename(tmp, m.path(b.id)); err != nil {
			os.Remove(tmp)
		}
	}
	releaseAll(b.records)
	b.records = nil
	if err != nil {
		delete(m.blocks, b.id)
		return fmt.Errorf("storage: spill %s: %w", b.id, err)
	}
	b.onDisk, b.diskSize = true, size
	m.diskUsed += size
	return nil
}

// removeLocked removes the block id, if any, from both stores.
func (m *Manager) removeLocked(id BlockID) {
	b := m.blocks[id]
	if b == nil {
		return
	}
	delete(m.blocks, id)
	if b.elem != nil {
		m.lru.Remove(b.elem)
		b.elem = nil
		m.memUsed -= b.memSize
		m.usedLocked()
		b.memSize = 0
	}
	releaseAll(b.records)
	b.records = nil
	if b.onDisk {
		// Remove has no error to report, and a file left behind is harmless:
		// no block refers to it, the next Put of the id overwrites it, and
		// Close removes the directory it created.
		os.Remove(m.path(id))
		m.diskUsed -= b.diskSize
		b.onDisk, b.diskSize = false, 0
	}
}

// sortedBlocksLocked returns the stored blocks ordered by RDD and partition.
func (m *Manager) sortedBlocksLocked() []*block {
	bs := make([]*block, 0, len(m.blocks))
	for _, b := range m.blocks {
		bs = append(bs, b)
	}
	slices.SortFunc(bs, func(a, b *block) int {
		return cmp.Or(cmp.Compare(a.rdd, b.rdd), cmp.Compare(a.partition, b.partition))
	})
	return bs
}

// path returns the name of the file holding block id, which ParseRDDBlock
// has validated to be a plain file name.
func (m *Manager) path(id BlockID) string {
	return filepath.Join(m.dir, string(id)+".arrow")
}

// RecordsSize returns the memory records occupy, as a block does: the total
// length of their buffers, including those of child and dictionary arrays.
func RecordsSize(records []arrow.Record) int64 {
	var n int64
	for _, rec := range records {
		for _, col := range rec.Columns() {
			n += dataSize(col.Data())
		}
	}
	return n
}

func dataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	// Dictionary returns a non-nil interface holding a nil *array.Data for
	// arrays without a dictionary.
	if dict := d.Dictionary(); dict != nil {
		if ad, ok := dict.(*array.Data); !ok || ad != nil {
			n += dataSize(dict)
		}
	}
	return n
}

// retainAll retains each record and returns them in a new slice. The slice
// is never nil, so that an empty block in memory (records != nil) is told
// apart from a block that is not in memory.
func retainAll(records []arrow.Record) []arrow.Record {
	out := make([]arrow.Record, len(records))
	for i, rec := range records {
		rec.Retain()
		out[i] = rec
	}
	return out
}

func releaseAll(records []arrow.Record) {
	for _, rec := range records {
		rec.Release()
	}
}

// Records returns the schema of block id and its records, yielded one at a
// time, each retained for the caller, who must release it; ok is false
// when the block is stored nowhere. Unlike Get, a block only on disk is
// read a record at a time and not cached in memory again, so that a block
// larger than memory streams through. A block file that vanished or is
// damaged fails with ErrBlockLost, and the block is dropped.
func (m *Manager) Records(id BlockID) (schema *arrow.Schema, records iter.Seq2[arrow.Record, error], ok bool, err error) {
	if _, _, err := ParseRDDBlock(id); err != nil {
		return nil, nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, false, ErrClosed
	}
	b := m.blocks[id]
	if b == nil {
		return nil, nil, false, nil
	}
	if b.records != nil {
		if b.elem != nil {
			m.lru.MoveToFront(b.elem)
		}
		return b.schema, retained(retainAll(b.records)), true, nil
	}
	return b.schema, m.fileRecords(b), true, nil
}

// retained yields records the caller has a reference to each of; those
// not yielded, when the caller stops, are released.
func retained(recs []arrow.Record) iter.Seq2[arrow.Record, error] {
	return func(yield func(arrow.Record, error) bool) {
		for i, rec := range recs {
			if !yield(rec, nil) {
				releaseAll(recs[i+1:])
				return
			}
		}
	}
}

// fileRecords yields the records of b's file, one at a time.
func (m *Manager) fileRecords(b *block) iter.Seq2[arrow.Record, error] {
	return func(yield func(arrow.Record, error) bool) {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			yield(nil, ErrClosed)
			return
		}
		m.inflight.Add(1)
		m.mu.Unlock()
		defer m.inflight.Done()
		for rec, err := range blockFileRecords(m.path(b.id), b.schema, m.mem) {
			if err != nil {
				m.mu.Lock()
				if m.blocks[b.id] == b {
					m.removeLocked(b.id)
				}
				m.mu.Unlock()
				yield(nil, fmt.Errorf("storage: read %s: %w: %w", b.id, ErrBlockLost, err))
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// BlockWriter writes a block to the disk store a record at a time, for a
// block too large to hold in memory while it is made.
type BlockWriter struct {
	m     *Manager
	b     *block
	file  *blockFile
	ended bool
}

// NewBlockWriter starts writing block id, of schema, to disk; Commit
// stores it at level (as on disk only), Abort drops it.
func (m *Manager) NewBlockWriter(id BlockID, schema *arrow.Schema, level Level) (*BlockWriter, error) {
	rdd, part, err := ParseRDDBlock(id)
	if err != nil {
		return nil, err
	}
	if !level.Disk {
		return nil, fmt.Errorf("storage: write %s: level %s keeps nothing on disk", id, level)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	m.inflight.Add(1)
	m.mu.Unlock()
	f, err := newBlockFile(m.dir, id, schema, m.mem)
	if err != nil {
		m.inflight.Done()
		return nil, fmt.Errorf("storage: write %s: %w", id, err)
	}
	b := &block{id: id, rdd: rdd, partition: part, level: level, schema: schema}
	return &BlockWriter{m: m, b: b, file: f}, nil
}

// Write appends a record to the block.
func (w *BlockWriter) Write(rec arrow.Record) error {
	if !rec.Schema().Equal(w.b.schema) {
		return fmt.Errorf("storage: write %s: a record does not have the block's schema", w.b.id)
	}
	if err := w.file.write(rec); err != nil {
		return fmt.Errorf("storage: write %s: %w", w.b.id, err)
	}
	return nil
}

// Commit completes the block and stores it, replacing any stored under
// its id.
func (w *BlockWriter) Commit() (PutResult, error) {
	if w.ended {
		return PutResult{}, fmt.Errorf("storage: write %s: already ended", w.b.id)
	}
	w.ended = true
	defer w.m.inflight.Done()
	tmp, size, err := w.file.finish()
	if err != nil {
		return PutResult{}, fmt.Errorf("storage: write %s: %w", w.b.id, err)
	}
	return w.m.install(w.b, tmp, size)
}

// Abort drops the block being written.
func (w *BlockWriter) Abort() {
	if w.ended {
		return
	}
	w.ended = true
	w.file.abort()
	w.m.inflight.Done()
}
