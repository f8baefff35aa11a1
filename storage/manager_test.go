package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "vals", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
}, nil)

// makeRecord builds a record of rows rows whose values depend only on seed,
// so that equal seeds give equal records.
func makeRecord(mem memory.Allocator, seed uint64, rows int) arrow.Record {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	r := rand.New(rand.NewPCG(seed, 42))
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	scores := b.Field(1).(*array.Float64Builder)
	names := b.Field(2).(*array.StringBuilder)
	oks := b.Field(3).(*array.BooleanBuilder)
	vals := b.Field(4).(*array.ListBuilder)
	vvals := vals.ValueBuilder().(*array.Int32Builder)
	tags := b.Field(5).(*array.ListBuilder)
	vtags := tags.ValueBuilder().(*array.StringBuilder)
	for i := range rows {
		ids.Append(int64(seed)*1_000_000 + int64(i))
		if r.IntN(5) == 0 {
			scores.AppendNull()
		} else {
			scores.Append(r.Float64())
		}
		if r.IntN(7) == 0 {
			names.AppendNull()
		} else {
			names.Append(fmt.Sprintf("name-%d-%s", i, strings.Repeat("x", r.IntN(20))))
		}
		oks.Append(r.IntN(2) == 0)
		if r.IntN(6) == 0 {
			vals.AppendNull()
		} else {
			vals.Append(true)
			for range r.IntN(5) {
				vvals.Append(r.Int32())
			}
		}
		tags.Append(true)
		for range r.IntN(3) {
			vtags.Append(fmt.Sprintf("t%d", r.IntN(100)))
		}
	}
	return b.NewRecord()
}

// makeUniformBlock builds a block like makeBlock's, but whose buffer sizes
// depend only on nrec and rows, not on seed.
func makeUniformBlock(mem memory.Allocator, seed uint64, nrec, rows int) []arrow.Record {
	recs := make([]arrow.Record, nrec)
	for n := range recs {
		b := array.NewRecordBuilder(mem, testSchema)
		for i := range rows {
			v := int64(seed)*1_000_000 + int64(n*rows+i)
			b.Field(0).(*array.Int64Builder).Append(v)
			b.Field(1).(*array.Float64Builder).Append(float64(v) / 3)
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("name-%012d", v))
			b.Field(3).(*array.BooleanBuilder).Append(v%2 == 0)
			vals := b.Field(4).(*array.ListBuilder)
			vals.Append(true)
			vals.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{int32(v), int32(v + 1)}, nil)
			tags := b.Field(5).(*array.ListBuilder)
			tags.Append(true)
			tags.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("t%012d", v))
		}
		recs[n] = b.NewRecord()
		b.Release()
	}
	return recs
}

// makeBlock builds nrec records of rows rows each, derived from seed.
func makeBlock(mem memory.Allocator, seed uint64, nrec, rows int) []arrow.Record {
	recs := make([]arrow.Record, nrec)
	for i := range recs {
		recs[i] = makeRecord(mem, seed*100+uint64(i), rows)
	}
	return recs
}

func newTestManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustPut(t testing.TB, m *Manager, id BlockID, recs []arrow.Record, level Level) PutResult {
	t.Helper()
	res, err := m.Put(id, testSchema, recs, level)
	if err != nil {
		t.Fatalf("Put(%s, %s): %v", id, level, err)
	}
	return res
}

// checkGet gets id and checks it holds want.
func checkGet(t testing.TB, m *Manager, id BlockID, want []arrow.Record) {
	t.Helper()
	schema, got, ok, err := m.Get(id)
	if err != nil || !ok {
		t.Fatalf("Get(%s) = ok %v, err %v; want the block", id, ok, err)
	}
	defer releaseAll(got)
	if !schema.Equal(testSchema) {
		t.Fatalf("Get(%s) schema = %v, want %v", id, schema, testSchema)
	}
	if len(got) != len(want) {
		t.Fatalf("Get(%s) returned %d records, want %d", id, len(got), len(want))
	}
	for i := range got {
		if !array.RecordEqual(got[i], want[i]) {
			t.Fatalf("Get(%s) record %d differs:\ngot  %v\nwant %v", id, i, got[i], want[i])
		}
	}
}

func checkMissing(t testing.TB, m *Manager, id BlockID) {
	t.Helper()
	if m.Contains(id) {
		t.Errorf("Contains(%s) = true, want false", id)
	}
	_, recs, ok, err := m.Get(id)
	if ok || err != nil || recs != nil {
		t.Errorf("Get(%s) = %d records, ok %v, err %v; want nothing", id, len(recs), ok, err)
	}
}

func blockStatus(m *Manager, id BlockID) (BlockStatus, bool) {
	for _, b := range m.Status().Blocks {
		if b.ID == id {
			return b, true
		}
	}
	return BlockStatus{}, false
}

// checkStatus checks the accounting invariants and that the disk store holds
// exactly the files Status describes.
func checkStatus(t testing.TB, m *Manager) Status {
	t.Helper()
	s := m.Status()
	var mem, disk int64
	files := map[string]int64{}
	for _, b := range s.Blocks {
		mem += b.MemSize
		disk += b.DiskSize
		if b.DiskSize > 0 {
			files[string(b.ID)+".arrow"] = b.DiskSize
		}
	}
	if mem != s.MemoryUsed {
		t.Errorf("MemoryUsed = %d, blocks sum to %d", s.MemoryUsed, mem)
	}
	if s.MemoryUsed > s.MemoryLimit || s.MemoryUsed < 0 {
		t.Errorf("MemoryUsed = %d, limit %d", s.MemoryUsed, s.MemoryLimit)
	}
	if disk != s.DiskUsed {
		t.Errorf("DiskUsed = %d, blocks sum to %d", s.DiskUsed, disk)
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("disk store holds %d files, want %d", len(entries), len(files))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := files[e.Name()]; !ok || info.Size() != want {
			t.Errorf("file %s has size %d, want block file of size %d (listed %v)", e.Name(), info.Size(), want, ok)
		}
	}
	return s
}

func TestPutGetRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	m := newTestManager(t, Config{Allocator: mem})

	tests := []struct {
		level Level
		nrec  int
		want  PutResult
	}{
		{MemoryOnly, 3, PutResult{InMemory: true}},
		{MemoryAndDisk, 2, PutResult{InMemory: true}},
		{DiskOnly, 3, PutResult{OnDisk: true}},
		{DiskOnly, 0, PutResult{OnDisk: true}},
		{MemoryOnly, 0, PutResult{InMemory: true}},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.level, tt.nrec), func(t *testing.T) {
			id := RDDBlock(1, i)
			recs := makeBlock(mem, uint64(i), tt.nrec, 100)
			defer releaseAll(recs)
			if got := mustPut(t, m, id, recs, tt.level); got != tt.want {
				t.Errorf("Put = %+v, want %+v", got, tt.want)
			}
			if !m.Contains(id) {
				t.Errorf("Contains(%s) = false", id)
			}
			checkGet(t, m, id, recs)
			bs, _ := blockStatus(m, id)
			if bs.Level != tt.level {
				t.Errorf("status level = %v, want %v", bs.Level, tt.level)
			}
			if tt.level.Memory && tt.nrec > 0 && bs.MemSize != RecordsSize(recs) {
				t.Errorf("MemSize = %d, want %d", bs.MemSize, RecordsSize(recs))
			}
			if tt.level == DiskOnly && (bs.MemSize != 0 || bs.DiskSize == 0) {
				t.Errorf("DiskOnly block status %+v", bs)
			}
		})
	}
	checkStatus(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPutReplaces(t *testing.T) {
	m := newTestManager(t, Config{})
	id := RDDBlock(2, 0)
	a := makeBlock(nil, 1, 1, 10)
	b := makeBlock(nil, 2, 2, 10)
	mustPut(t, m, id, a, DiskOnly)
	mustPut(t, m, id, b, MemoryOnly)
	checkGet(t, m, id, b)
	if s := checkStatus(t, m); len(s.Blocks) != 1 || s.DiskUsed != 0 {
		t.Errorf("after replacing a disk block by a memory block: %+v", s)
	}
	mustPut(t, m, id, a, DiskOnly)
	checkGet(t, m, id, a)
	if s := checkStatus(t, m); len(s.Blocks) != 1 || s.MemoryUsed != 0 {
		t.Errorf("after replacing a memory block by a disk block: %+v", s)
	}
}

func TestPutRejects(t *testing.T) {
	m := newTestManager(t, Config{})
	recs := makeBlock(nil, 1, 1, 10)
	other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int8}}, nil)
	if _, err := m.Put("../rdd_1_1", testSchema, recs, MemoryOnly); !errors.Is(err, ErrInvalidBlockID) {
		t.Errorf("Put with a bad id: %v", err)
	}
	if _, err := m.Put(RDDBlock(1, 1), testSchema, recs, None); err == nil {
		t.Error("Put at level NONE succeeded")
	}
	if _, err := m.Put(RDDBlock(1, 1), other, recs, MemoryOnly); err == nil {
		t.Error("Put of records with another schema succeeded")
	}
	if _, err := m.Put(RDDBlock(1, 1), nil, nil, MemoryOnly); err == nil {
		t.Error("Put with a nil schema succeeded")
	}
	if _, _, _, err := m.Get("rdd_1_1/.."); !errors.Is(err, ErrInvalidBlockID) {
		t.Errorf("Get with a bad id: %v", err)
	}
	checkMissing(t, m, RDDBlock(1, 1))
}

func TestLRUEviction(t *testing.T) {
	for _, level := range []Level{MemoryAndDisk, MemoryOnly} {
		t.Run(level.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)

			blocks := make([][]arrow.Record, 4)
			for i := range blocks {
				// Equal sizes, so that exactly three fit.
				blocks[i] = makeUniformBlock(mem, uint64(i), 2, 50)
				defer releaseAll(blocks[i])
			}
			size := RecordsSize(blocks[0])
			m := newTestManager(t, Config{MemoryLimit: 3 * size, Allocator: mem})
			defer m.Close()

			for i := range 3 {
				if res := mustPut(t, m, RDDBlock(1, i), blocks[i], level); res != (PutResult{InMemory: true}) {
					t.Fatalf("Put %d = %+v", i, res)
				}
			}
			checkGet(t, m, RDDBlock(1, 0), blocks[0]) // block 1 is now least recently used
			mustPut(t, m, RDDBlock(1, 3), blocks[3], level)
			s := checkStatus(t, m)
			if s.MemoryUsed != 3*size {
				t.Errorf("MemoryUsed = %d, want %d", s.MemoryUsed, 3*size)
			}
			for _, i := range []int{0, 2, 3} {
				if bs, ok := blockStatus(m, RDDBlock(1, i)); !ok || bs.MemSize != size || bs.DiskSize != 0 {
					t.Errorf("block %d: %+v, want in memory only", i, bs)
				}
			}

			evicted := RDDBlock(1, 1)
			if level == MemoryOnly {
				checkMissing(t, m, evicted)
				return
			}
			if bs, ok := blockStatus(m, evicted); !ok || bs.MemSize != 0 || bs.DiskSize == 0 {
				t.Fatalf("evicted block: %+v, want on disk only", bs)
			}
			// Memory is full, so reading the spilled block does not re-cache it.
			checkGet(t, m, evicted, blocks[1])
			if bs, _ := blockStatus(m, evicted); bs.MemSize != 0 {
				t.Errorf("block re-cached into a full memory store: %+v", bs)
			}
			// With room, it is re-cached and kept on disk too.
			m.Remove(RDDBlock(1, 2))
			checkGet(t, m, evicted, blocks[1])
			if bs, _ := blockStatus(m, evicted); bs.MemSize == 0 || bs.DiskSize == 0 {
				t.Errorf("block not re-cached: %+v", bs)
			}
			checkStatus(t, m)
			// Evicting it again only drops the memory copy.
			mustPut(t, m, RDDBlock(1, 5), blocks[2], level)
			checkGet(t, m, RDDBlock(1, 0), blocks[0])
			checkGet(t, m, RDDBlock(1, 3), blocks[3])
			mustPut(t, m, RDDBlock(1, 6), blocks[2], level)
			if bs, _ := blockStatus(m, evicted); bs.MemSize != 0 || bs.DiskSize == 0 {
				t.Errorf("re-cached block after eviction: %+v", bs)
			}
			checkGet(t, m, evicted, blocks[1])
			checkStatus(t, m)
		})
	}
}

func TestOversizeBlock(t *testing.T) {
	small := makeBlock(nil, 1, 1, 10)
	big := makeBlock(nil, 2, 4, 200)
	// Well below the block's size: read back from disk, its buffers are
	// trimmed to their lengths and may be smaller than the builder's.
	m := newTestManager(t, Config{MemoryLimit: RecordsSize(big) / 2})

	mustPut(t, m, RDDBlock(1, 0), small, MemoryOnly)
	if res := mustPut(t, m, RDDBlock(1, 1), big, MemoryOnly); res != (PutResult{}) {
		t.Errorf("oversize MemoryOnly Put = %+v, want nothing stored", res)
	}
	checkMissing(t, m, RDDBlock(1, 1))

	if res := mustPut(t, m, RDDBlock(1, 2), big, MemoryAndDisk); res != (PutResult{OnDisk: true}) {
		t.Errorf("oversize MemoryAndDisk Put = %+v, want on disk", res)
	}
	checkGet(t, m, RDDBlock(1, 2), big)
	if bs, _ := blockStatus(m, RDDBlock(1, 2)); bs.MemSize != 0 {
		t.Errorf("oversize block cached in memory: %+v", bs)
	}
	// Oversize blocks do not evict anything.
	if bs, _ := blockStatus(m, RDDBlock(1, 0)); bs.MemSize == 0 {
		t.Errorf("small block evicted by an oversize one: %+v", bs)
	}
	checkStatus(t, m)
}

func TestRemoveRDD(t *testing.T) {
	m := newTestManager(t, Config{})
	levels := []Level{MemoryOnly, MemoryAndDisk, DiskOnly}
	want := map[BlockID][]arrow.Record{}
	for rdd := 1; rdd <= 3; rdd++ {
		for p, level := range levels {
			id := RDDBlock(rdd, p)
			want[id] = makeBlock(nil, uint64(rdd*10+p), 1, 20)
			mustPut(t, m, id, want[id], level)
		}
	}
	m.RemoveRDD(2)
	m.RemoveRDD(99)
	m.Remove(RDDBlock(3, 1))
	m.Remove(RDDBlock(3, 1))
	for id, recs := range want {
		rdd, p, _ := ParseRDDBlock(id)
		if rdd == 2 || (rdd == 3 && p == 1) {
			checkMissing(t, m, id)
		} else {
			checkGet(t, m, id, recs)
		}
	}
	if s := checkStatus(t, m); len(s.Blocks) != 5 {
		t.Errorf("%d blocks left, want 5", len(s.Blocks))
	}
}

func TestCloseRemovesTempDir(t *testing.T) {
	m, err := NewManager(Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := m.dir
	if !strings.HasPrefix(filepath.Base(dir), "ember-blocks-") {
		t.Errorf("temp dir %s", dir)
	}
	recs := makeBlock(nil, 1, 1, 10)
	mustPut(t, m, RDDBlock(1, 0), recs, DiskOnly)
	mustPut(t, m, RDDBlock(1, 1), recs, MemoryOnly)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Close: %v, want not exist", dir, err)
	}
	checkClosed(t, m)
}

func TestCloseKeepsUserDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blocks")
	m, err := NewManager(Config{Dir: dir, MemoryLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	recs := makeBlock(nil, 1, 1, 10)
	mustPut(t, m, RDDBlock(1, 0), recs, DiskOnly)
	mustPut(t, m, RDDBlock(1, 1), recs, MemoryAndDisk) // oversize: spilled
	if s := m.Status(); s.DiskUsed == 0 {
		t.Fatalf("nothing on disk: %+v", s)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("user dir after Close: %v", err)
	}
	if len(entries) != 0 {
		t.Errorf("user dir holds %d files after Close", len(entries))
	}
	checkClosed(t, m)
}

func checkClosed(t *testing.T, m *Manager) {
	t.Helper()
	if _, err := m.Put(RDDBlock(1, 0), testSchema, nil, MemoryOnly); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if _, err := m.Put(RDDBlock(1, 0), testSchema, nil, DiskOnly); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if _, _, _, err := m.Get(RDDBlock(1, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if m.Contains(RDDBlock(1, 0)) {
		t.Error("Contains after Close = true")
	}
	m.Remove(RDDBlock(1, 0))
	m.RemoveRDD(1)
	if s := m.Status(); s.MemoryUsed != 0 || s.DiskUsed != 0 || len(s.Blocks) != 0 {
		t.Errorf("Status after Close: %+v", s)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCorruptBlockFile(t *testing.T) {
	m := newTestManager(t, Config{})
	recs := makeBlock(nil, 1, 2, 100)
	for i, damage := range []func(path string) error{
		func(path string) error { return os.WriteFile(path, []byte("not an arrow file"), 0o600) },
		func(path string) error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			return os.Truncate(path, fi.Size()/2)
		},
		func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for j := len(b) / 4; j < len(b)*3/4; j++ {
				b[j] ^= 0x5a
			}
			return os.WriteFile(path, b, 0o600)
		},
		os.Remove,
	} {
		id := RDDBlock(1, i)
		mustPut(t, m, id, recs, DiskOnly)
		if err := damage(m.path(id)); err != nil {
			t.Fatal(err)
		}
		_, got, ok, err := m.Get(id)
		releaseAll(got)
		if err == nil {
			t.Errorf("damage %d: Get = ok %v, want an error", i, ok)
		}
	}
}

// TestAccounting applies a random sequence of operations and checks the
// accounting invariants, and that blocks that may use disk are never lost,
// after each one.
func TestAccounting(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	limit := 4 * RecordsSize(makeBlock(nil, 0, 2, 60))
	m := newTestManager(t, Config{MemoryLimit: limit, Allocator: mem})

	type stored struct {
		seed  uint64
		nrec  int
		rows  int
		level Level
	}
	model := map[BlockID]stored{}
	levels := []Level{MemoryOnly, MemoryAndDisk, DiskOnly}
	for step := range 400 {
		id := RDDBlock(r.IntN(3), r.IntN(6))
		switch op := r.IntN(10); {
		case op < 5:
			st := stored{seed: uint64(step), nrec: r.IntN(4), rows: 1 + r.IntN(120), level: levels[r.IntN(3)]}
			recs := makeBlock(mem, st.seed, st.nrec, st.rows)
			res, err := m.Put(id, testSchema, recs, st.level)
			if err != nil {
				t.Fatalf("step %d: Put: %v", step, err)
			}
			if res.InMemory || res.OnDisk {
				model[id] = st
			} else {
				delete(model, id)
			}
			releaseAll(recs)
		case op < 8:
			st, want := model[id]
			_, got, ok, err := m.Get(id)
			if err != nil {
				t.Fatalf("step %d: Get: %v", step, err)
			}
			if ok {
				if !want {
					t.Fatalf("step %d: Get(%s) found a removed block", step, id)
				}
				wantRecs := makeBlock(mem, st.seed, st.nrec, st.rows)
				if len(got) != len(wantRecs) {
					t.Fatalf("step %d: Get(%s) returned %d records, want %d", step, id, len(got), len(wantRecs))
				}
				for i := range wantRecs {
					if !array.RecordEqual(got[i], wantRecs[i]) {
						t.Fatalf("step %d: Get(%s) record %d differs", step, id, i)
					}
				}
				releaseAll(wantRecs)
				releaseAll(got)
			} else if want && st.level.Disk {
				t.Fatalf("step %d: Get(%s) lost a %s block", step, id, st.level)
			} else {
				delete(model, id) // evicted
			}
		case op < 9:
			m.Remove(id)
			delete(model, id)
		default:
			rdd, _, _ := ParseRDDBlock(id)
			m.RemoveRDD(rdd)
			for id := range model {
				if r, _, _ := ParseRDDBlock(id); r == rdd {
					delete(model, id)
				}
			}
		}
		checkStatus(t, m)
		if t.Failed() {
			t.Fatalf("step %d", step)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent runs Put, Get and Remove from many goroutines on a small
// memory store, so that evictions and spills race with reads and removals.
func TestConcurrent(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	// The content of a block depends only on its id, so any version of a
	// block read back must equal it.
	const nblocks = 12
	want := make([][]arrow.Record, nblocks)
	for i := range want {
		want[i] = makeBlock(mem, uint64(i), 1+i%3, 20)
		defer releaseAll(want[i])
	}
	m := newTestManager(t, Config{MemoryLimit: 3 * RecordsSize(want[1]), Allocator: mem})

	levels := []Level{MemoryOnly, MemoryAndDisk, DiskOnly}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 150 {
				i := r.IntN(nblocks)
				id := RDDBlock(i%2, i)
				switch op := r.IntN(10); {
				case op < 4:
					if _, err := m.Put(id, testSchema, want[i], levels[r.IntN(3)]); err != nil {
						t.Errorf("Put(%s): %v", id, err)
						return
					}
				case op < 8:
					_, got, ok, err := m.Get(id)
					if err != nil {
						t.Errorf("Get(%s): %v", id, err)
						return
					}
					if ok {
						for j := range got {
							if !array.RecordEqual(got[j], want[i][j]) {
								t.Errorf("Get(%s) record %d differs", id, j)
							}
						}
					}
					releaseAll(got)
				case op < 9:
					m.Remove(id)
				default:
					m.Contains(id)
					m.Status()
					if r.IntN(10) == 0 {
						m.RemoveRDD(i % 2)
					}
				}
			}
		})
	}
	wg.Wait()
	checkStatus(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseDuringUse closes the Manager while other goroutines use it.
func TestCloseDuringUse(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := makeBlock(mem, 1, 2, 100)
	defer releaseAll(recs)
	m, err := NewManager(Config{MemoryLimit: RecordsSize(recs) * 2, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	dir := m.dir

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := RDDBlock(g, i%5)
				if _, err := m.Put(id, testSchema, recs, MemoryAndDisk); errors.Is(err, ErrClosed) {
					return
				} else if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				_, got, _, err := m.Get(RDDBlock(g, (i+2)%5))
				releaseAll(got)
				if errors.Is(err, ErrClosed) {
					return
				} else if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
			}
		})
	}
	// Close once spills are happening.
	for deadline := time.Now().Add(5 * time.Second); m.Status().DiskUsed == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no block was spilled")
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat(%s) after Close: %v, want not exist", dir, err)
	}
}

func BenchmarkPutGetMemory(b *testing.B) {
	recs := makeBlock(nil, 1, 4, 1024)
	defer releaseAll(recs)
	m := newTestManager(b, Config{})
	b.SetBytes(RecordsSize(recs))
	for i := 0; b.Loop(); i++ {
		id := RDDBlock(1, i%64)
		if _, err := m.Put(id, testSchema, recs, MemoryOnly); err != nil {
			b.Fatal(err)
		}
		_, got, ok, err := m.Get(id)
		if err != nil || !ok {
			b.Fatalf("Get: ok %v, err %v", ok, err)
		}
		releaseAll(got)
	}
}
