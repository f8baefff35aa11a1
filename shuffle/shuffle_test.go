package shuffle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// row is one row of testSchema in plain Go.
type row struct {
	k     int64
	v     string
	valid bool
}

// newRecord builds a record of testSchema holding rows.
func newRecord(mem memory.Allocator, rows []row) arrow.Record {
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	kb := b.Field(0).(*array.Int64Builder)
	vb := b.Field(1).(*array.StringBuilder)
	for _, r := range rows {
		kb.Append(r.k)
		if r.valid {
			vb.Append(r.v)
		} else {
			vb.AppendNull()
		}
	}
	return b.NewRecord()
}

// randomRows returns n random rows; strings repeat so that they compress.
func randomRows(rng *rand.Rand, n int) []row {
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{
			k:     rng.Int64N(1 << 40),
			v:     strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(40)),
			valid: rng.IntN(10) != 0,
		}
		if !rows[i].valid {
			rows[i].v = ""
		}
	}
	return rows
}

// recordRows returns the rows of rec.
func recordRows(rec arrow.Record) []row {
	k := rec.Column(0).(*array.Int64)
	v := rec.Column(1).(*array.String)
	rows := make([]row, rec.NumRows())
	for i := range rows {
		rows[i] = row{k: k.Value(i), valid: v.IsValid(i)}
		if rows[i].valid {
			rows[i].v = v.Value(i)
		}
	}
	return rows
}

// fetchRows reads one block, releasing its records.
func fetchRows(ctx context.Context, f Fetcher, ref BlockRef) ([]row, error) {
	var rows []row
	for rec, err := range f.Fetch(ctx, ref) {
		if err != nil {
			return rows, err
		}
		rows = append(rows, recordRows(rec)...)
		rec.Release()
	}
	return rows, nil
}

// newTestManager returns a manager whose allocator is checked for leaks
// when the test ends.
func newTestManager(t *testing.T, c Compression) *Manager {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	m, err := NewManager(Config{Dir: t.TempDir(), Compression: c, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		mem.AssertSize(t, 0)
	})
	return m
}

// setSpillThreshold lowers the spill threshold for the rest of the test.
func setSpillThreshold(t *testing.T, n int64) {
	old := spillThreshold
	spillThreshold = n
	t.Cleanup(func() { spillThreshold = old })
}

// writeMap writes a map task's output: batches of random rows sent to the
// partitions in targets, leaving the others empty. It returns the rows
// written to each partition, in order, and the committed status.
func writeMap(t *testing.T, m *Manager, rng *rand.Rand, mem memory.Allocator, shuffleID, mapID, numReduce int, targets []int, batches int) ([][]row, MapStatus) {
	t.Helper()
	w, err := m.NewWriter(shuffleID, mapID, 0, numReduce, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]row, numReduce)
	for range batches {
		r := targets[rng.IntN(len(targets))]
		rows := randomRows(rng, 1+rng.IntN(300))
		rec := newRecord(mem, rows)
		if err := w.Write(r, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release() // the writer holds its own reference
		want[r] = append(want[r], rows...)
	}
	st, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return want, st
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []Compression{LZ4, ZSTD, NoCompression} {
		for _, spill := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/spill=%v", c, spill), func(t *testing.T) {
				if spill {
					setSpillThreshold(t, 16<<10)
				}
				testRoundTrip(t, c)
			})
		}
	}
}

func testRoundTrip(t *testing.T, c Compression) {
	m := newTestManager(t, c)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(7, uint64(c)))

	tasks := []struct {
		numReduce int
		targets   []int
		batches   int
	}{
		{numReduce: 1, targets: []int{0}, batches: 20},
		{numReduce: 1, targets: []int{0}, batches: 0}, // writes nothing
		{numReduce: 6, targets: []int{1, 2, 4}, batches: 30},
		{numReduce: 40, targets: []int{0, 5, 7, 8, 9, 21, 39}, batches: 80},
		{numReduce: 0, batches: 0},
	}
	ctx := context.Background()
	for mapID, task := range tasks {
		want, st := writeMap(t, m, rng, mem, 3, mapID, task.numReduce, task.targets, task.batches)
		if st.ShuffleID != 3 || st.MapID != mapID || len(st.Sizes) != task.numReduce || len(st.Rows) != task.numReduce {
			t.Fatalf("map %d: status %+v", mapID, st)
		}
		for r := range task.numReduce {
			got, err := fetchRows(ctx, m, BlockRef{ShuffleID: 3, MapID: mapID, ReduceID: r})
			if err != nil {
				t.Fatalf("map %d reduce %d: %v", mapID, r, err)
			}
			if !slices.Equal(got, want[r]) {
				t.Fatalf("map %d reduce %d: read %d rows differing from the %d written", mapID, r, len(got), len(want[r]))
			}
			if st.Rows[r] != int64(len(want[r])) {
				t.Errorf("map %d reduce %d: status has %d rows, want %d", mapID, r, st.Rows[r], len(want[r]))
			}
			if (st.Sizes[r] == 0) != (len(want[r]) == 0) {
				t.Errorf("map %d reduce %d: size %d for %d rows", mapID, r, st.Sizes[r], len(want[r]))
			}
		}
		if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 3, MapID: mapID, ReduceID: task.numReduce}); err == nil {
			t.Errorf("map %d: fetching reduce partition %d of %d succeeded", mapID, task.numReduce, task.numReduce)
		}
	}
	assertOnlyFinalFiles(t, filepath.Join(m.Dir(), "shuffle_3"), len(tasks))
}

// assertOnlyFinalFiles checks that dir holds a data and an index file for
// each of maps map tasks and nothing else: no temporary or spill files.
func assertOnlyFinalFiles(t *testing.T, dir string, maps int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var want []string
	for i := range maps {
		want = append(want, fmt.Sprintf("map_%d.data", i), fmt.Sprintf("map_%d.index", i))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
}

func TestSpillHappens(t *testing.T) {
	setSpillThreshold(t, 8<<10)
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(1, 1))

	w, err := m.NewWriter(0, 0, 0, 4, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]row, 4)
	for i := range 50 {
		rows := randomRows(rng, 200)
		rec := newRecord(mem, rows)
		if err := w.Write(i%3, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		want[i%3] = append(want[i%3], rows...)
	}
	if n := len(w.spills); n < 2 {
		t.Fatalf("%d spills, want several", n)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for r := range 4 {
		got, err := fetchRows(context.Background(), m, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: r})
		if err != nil || !slices.Equal(got, want[r]) {
			t.Fatalf("reduce %d: %d rows, err %v; want %d rows", r, len(got), err, len(want[r]))
		}
	}
	assertOnlyFinalFiles(t, filepath.Join(m.Dir(), "shuffle_0"), 1)
}

func TestAbort(t *testing.T) {
	setSpillThreshold(t, 4<<10)
	m := newTestManager(t, ZSTD)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(2, 2))

	w, err := m.NewWriter(1, 0, 0, 3, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		rec := newRecord(mem, randomRows(rng, 100))
		if err := w.Write(i%3, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if len(w.spills) == 0 {
		t.Fatal("no spill")
	}
	w.Abort()
	w.Abort()
	assertOnlyFinalFiles(t, filepath.Join(m.Dir(), "shuffle_1"), 0)
	rec := newRecord(mem, randomRows(rng, 1))
	defer rec.Release()
	if err := w.Write(0, rec); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if _, err := w.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := fetchRows(context.Background(), m, BlockRef{ShuffleID: 1, MapID: 0, ReduceID: 0}); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("fetch of aborted output: %v, want ErrMissingBlock", err)
	}
}

func TestIdempotentCommit(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 3))

	attempt := func(a int) (*Writer, []row) {
		w, err := m.NewWriter(0, 5, a, 2, testSchema)
		if err != nil {
			t.Fatal(err)
		}
		rows := randomRows(rng, 50+a*10)
		rec := newRecord(mem, rows)
		defer rec.Release()
		if err := w.Write(1, rec); err != nil {
			t.Fatal(err)
		}
		return w, rows
	}
	w1, rows1 := attempt(1)
	w2, _ := attempt(2)
	st1, err := w1.Commit()
	if err != nil {
		t.Fatal(err)
	}
	st2, err := w2.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st1.Sizes, st2.Sizes) || !slices.Equal(st1.Rows, st2.Rows) || st2.MapID != 5 {
		t.Errorf("second commit returned %+v, want the first's %+v", st2, st1)
	}
	if _, err := w1.Commit(); err == nil {
		t.Error("committing twice succeeded")
	}
	got, err := fetchRows(context.Background(), m, BlockRef{ShuffleID: 0, MapID: 5, ReduceID: 1})
	if err != nil || !slices.Equal(got, rows1) {
		t.Errorf("read %d rows, err %v; want the first attempt's %d", len(got), err, len(rows1))
	}
	dir := filepath.Join(m.Dir(), "shuffle_0")
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("shuffle directory holds %d files, want one data and one index", len(entries))
	}
}

func TestConcurrentCommits(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	const attempts = 8
	statuses := make([]MapStatus, attempts)
	var wg sync.WaitGroup
	for a := range attempts {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(a), 0))
			w, err := m.NewWriter(2, 0, a, 4, testSchema)
			if err != nil {
				t.Error(err)
				return
			}
			for range 20 {
				rec := newRecord(mem, randomRows(rng, 1+rng.IntN(100)))
				if err := w.Write(rng.IntN(4), rec); err != nil {
					t.Error(err)
				}
				rec.Release()
			}
			if statuses[a], err = w.Commit(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for a := 1; a < attempts; a++ {
		if !slices.Equal(statuses[a].Sizes, statuses[0].Sizes) || !slices.Equal(statuses[a].Rows, statuses[0].Rows) {
			t.Fatalf("attempt %d got status %+v, attempt 0 got %+v", a, statuses[a], statuses[0])
		}
	}
	// Readers in parallel.
	for r := range 4 {
		wg.Go(func() {
			got, err := fetchRows(context.Background(), m, BlockRef{ShuffleID: 2, MapID: 0, ReduceID: r})
			if err != nil || int64(len(got)) != statuses[0].Rows[r] {
				t.Errorf("reduce %d: %d rows, err %v; want %d", r, len(got), err, statuses[0].Rows[r])
			}
		})
	}
	wg.Wait()
	assertOnlyFinalFiles(t, filepath.Join(m.Dir(), "shuffle_2"), 1)
}

func TestMissingBlock(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(4, 4))
	writeMap(t, m, rng, mem, 0, 0, 2, []int{0, 1}, 5)
	writeMap(t, m, rng, mem, 0, 1, 2, []int{0, 1}, 5)
	writeMap(t, m, rng, mem, 1, 0, 2, []int{0, 1}, 5)
	ctx := context.Background()

	if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 0, MapID: 9, ReduceID: 0}); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("unknown map: %v, want ErrMissingBlock", err)
	}
	if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 7, MapID: 0, ReduceID: 0}); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("unknown shuffle: %v, want ErrMissingBlock", err)
	}
	if err := os.Remove(filepath.Join(m.Dir(), "shuffle_0", "map_1.data")); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 0, MapID: 1, ReduceID: 0}); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("data file removed: %v, want ErrMissingBlock", err)
	}
	if err := m.RemoveShuffle(0); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0}); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("removed shuffle: %v, want ErrMissingBlock", err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "shuffle_0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shuffle directory still there after RemoveShuffle: %v", err)
	}
	if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 1, MapID: 0, ReduceID: 1}); err != nil {
		t.Errorf("other shuffle affected by RemoveShuffle: %v", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, ids := range [][4]int{{-1, 0, 0, 1}, {0, -1, 0, 1}, {0, 0, -1, 1}, {0, 0, 0, -1}} {
		if _, err := m.NewWriter(ids[0], ids[1], ids[2], ids[3], testSchema); err == nil {
			t.Errorf("NewWriter%v succeeded", ids)
		}
	}
	if _, err := m.NewWriter(0, 0, 0, 1, nil); err == nil {
		t.Error("NewWriter without schema succeeded")
	}
	for _, ref := range []BlockRef{{ShuffleID: -1}, {MapID: -1}, {ReduceID: -1}} {
		if _, err := fetchRows(context.Background(), m, ref); err == nil || errors.Is(err, ErrMissingBlock) {
			t.Errorf("Fetch(%v) = %v, want an invalid id error", ref, err)
		}
	}
	if err := m.RemoveShuffle(-1); err == nil {
		t.Error("RemoveShuffle(-1) succeeded")
	}
	if _, err := NewManager(Config{Dir: t.TempDir(), Compression: Compression(42)}); err == nil {
		t.Error("NewManager with unknown compression succeeded")
	}

	w, err := m.NewWriter(0, 0, 0, 2, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	rec := newRecord(mem, []row{{k: 1}})
	defer rec.Release()
	for _, r := range []int{-1, 2} {
		if err := w.Write(r, rec); err == nil {
			t.Errorf("Write(%d) succeeded on 2 partitions", r)
		}
	}
	if err := w.Write(0, nil); err == nil {
		t.Error("Write(nil) succeeded")
	}
	other := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{rec.Column(0)}, 1)
	defer other.Release()
	if err := w.Write(0, other); err == nil {
		t.Error("Write with a different schema succeeded")
	}
}

func TestContextCanceled(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// Records too large to be merged, so that the block holds several.
	w, err := m.NewWriter(0, 0, 0, 1, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for range 3 {
		rec := newRecord(mem, randomRows(rng, targetBatchRows/2+1))
		if err := w.Write(0, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled fetch: %v, want context.Canceled", err)
	}
	// Cancel midway: the records read so far are the caller's, the rest are
	// released by the fetcher.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var n int
	var lastErr error
	for rec, err := range m.Fetch(ctx, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0}) {
		if err != nil {
			lastErr = err
			break
		}
		rec.Release()
		n++
		cancel()
	}
	if n != 1 || !errors.Is(lastErr, context.Canceled) {
		t.Errorf("read %d records then %v; want 1 then context.Canceled", n, lastErr)
	}
	// Stopping early releases everything too.
	for rec := range m.Fetch(context.Background(), BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0}) {
		rec.Release()
		break
	}
}

// rewriteIndex replaces the index of a single-partition map output with one
// describing the first size bytes of its data file, checksum included, so
// that damage reaches the decoder instead of being caught by the checksums.
func rewriteIndex(t *testing.T, dataPath, indexPath string, size int, rows int64) {
	t.Helper()
	data, err := os.ReadFile(dataPath)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:size]
	if err := os.WriteFile(dataPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	x := &index{offsets: []int64{0, int64(size)}, rows: []int64{rows}, checksums: []uint32{crc32.Checksum(data, castagnoli)}}
	if err := os.WriteFile(indexPath, x.marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruption(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(6, 6))
	ctx := context.Background()
	dir := filepath.Join(m.Dir(), "shuffle_0")
	paths := func(mapID int) (string, string) {
		return filepath.Join(dir, fmt.Sprintf("map_%d.data", mapID)), filepath.Join(dir, fmt.Sprintf("map_%d.index", mapID))
	}
	fresh := func(mapID int) (string, string, []byte) {
		_, st := writeMap(t, m, rng, mem, 0, mapID, 1, []int{0}, 8)
		if st.Rows[0] == 0 {
			t.Fatal("no rows written")
		}
		d, x := paths(mapID)
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		return d, x, b
	}
	expectCorrupt := func(what string, mapID int) {
		t.Helper()
		if _, err := fetchRows(ctx, m, BlockRef{ShuffleID: 0, MapID: mapID, ReduceID: 0}); !errors.Is(err, ErrCorruptBlock) {
			t.Errorf("%s: %v, want ErrCorruptBlock", what, err)
		}
	}

	d, _, data := fresh(0)
	for _, pos := range []int{0, 7, len(data) / 2, len(data) - 1} {
		b := slices.Clone(data)
		b[pos] ^= 0x20
		if err := os.WriteFile(d, b, 0o600); err != nil {
			t.Fatal(err)
		}
		expectCorrupt(fmt.Sprintf("byte %d flipped", pos), 0)
	}

	d, _, data = fresh(1)
	if err := os.WriteFile(d, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorrupt("data file truncated", 1)
	if err := os.WriteFile(d, append(data, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorrupt("data file extended", 1)

	_, x, _ := fresh(2)
	ib, err := os.ReadFile(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(x, ib[:len(ib)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorrupt("index truncated", 2)
	ib[3] ^= 1
	if err := os.WriteFile(x, ib, 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorrupt("index byte flipped", 2)
	if err := os.WriteFile(x, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	expectCorrupt("index empty", 2)

	// With checksums that match, truncation at every length must still be
	// reported by the decoder or the row count, never panic. Cutting only
	// the end-of-stream marker loses no data.
	w, err := m.NewWriter(0, 3, 0, 1, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec := newRecord(mem, randomRows(rng, 4))
		if err := w.Write(0, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	st, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	d, x = paths(3)
	if data, err = os.ReadFile(d); err != nil {
		t.Fatal(err)
	}
	for size := 1; size < len(data); size++ {
		rewriteIndex(t, d, x, size, st.Rows[0])
		_, err := fetchRows(ctx, m, BlockRef{ShuffleID: 0, MapID: 3, ReduceID: 0})
		if size < len(data)-len(endOfStream) && err == nil {
			t.Fatalf("segment truncated to %d of %d bytes read without error", size, len(data))
		}
		if err := os.WriteFile(d, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIndexEncoding(t *testing.T) {
	x := &index{offsets: []int64{0, 10, 10, 25}, rows: []int64{3, 0, 7}, checksums: []uint32{1, 0, 3}}
	b := x.marshal()
	if len(b) != 3*indexEntrySize+indexFixedSize {
		t.Fatalf("encoded index has %d bytes", len(b))
	}
	// The offsets lead, as in Spark's index files.
	for i, off := range x.offsets {
		if got := int64(binary.LittleEndian.Uint64(b[8*i:])); got != off {
			t.Errorf("offset %d encoded as %d, want %d", i, got, off)
		}
	}
	y, err := unmarshalIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.offsets, y.offsets) || !slices.Equal(x.rows, y.rows) || !slices.Equal(x.checksums, y.checksums) {
		t.Errorf("decoded %+v, want %+v", y, x)
	}
	bad := &index{offsets: []int64{0, 10, 5}, rows: []int64{1, 1}, checksums: []uint32{0, 0}}
	if _, err := unmarshalIndex(bad.marshal()); !errors.Is(err, ErrCorruptBlock) {
		t.Errorf("decreasing offsets: %v, want ErrCorruptBlock", err)
	}
}

func TestClose(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(8, 8))

	// A manager that made its own directory removes it.
	m, err := NewManager(Config{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	writeMap(t, m, rng, mem, 0, 0, 3, []int{0, 2}, 5)
	writeMap(t, m, rng, mem, 4, 1, 3, []int{1}, 5)
	pending, err := m.NewWriter(4, 2, 0, 1, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory survives Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := pending.Commit(); err == nil {
		t.Error("Commit after Close succeeded")
	}
	pending.Abort()
	if _, err := m.NewWriter(0, 0, 0, 1, testSchema); !errors.Is(err, ErrClosed) {
		t.Errorf("NewWriter after Close: %v, want ErrClosed", err)
	}
	if _, err := fetchRows(context.Background(), m, BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 0}); !errors.Is(err, ErrClosed) {
		t.Errorf("Fetch after Close: %v, want ErrClosed", err)
	}
	if err := m.RemoveShuffle(0); err != nil {
		t.Errorf("RemoveShuffle after Close: %v", err)
	}

	// A manager given a directory removes its own files and nothing else.
	dir := t.TempDir()
	foreign := []string{"notes.txt", "shuffle_x", "shuffle_007"}
	for _, name := range foreign {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err = NewManager(Config{Dir: dir, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	writeMap(t, m, rng, mem, 0, 0, 2, []int{1}, 3)
	writeMap(t, m, rng, mem, 12, 0, 2, []int{0}, 3)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(foreign)
	if !slices.Equal(names, foreign) {
		t.Errorf("after Close the directory holds %q, want %q", names, foreign)
	}
}

func BenchmarkWriteRead(b *testing.B) {
	for _, c := range []Compression{LZ4, ZSTD, NoCompression} {
		b.Run(c.String(), func(b *testing.B) {
			m, err := NewManager(Config{Dir: b.TempDir(), Compression: c})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			const numReduce = 8
			rng := rand.New(rand.NewPCG(9, 9))
			recs := make([]arrow.Record, 64)
			var bytes int64
			for i := range recs {
				recs[i] = newRecord(memory.DefaultAllocator, randomRows(rng, 4096))
				defer recs[i].Release()
				for _, col := range recs[i].Columns() {
					for _, buf := range col.Data().Buffers() {
						if buf != nil {
							bytes += int64(buf.Len())
						}
					}
				}
			}
			b.SetBytes(bytes)
			ctx := context.Background()
			mapID := 0
			for b.Loop() {
				w, err := m.NewWriter(0, mapID, 0, numReduce, testSchema)
				if err != nil {
					b.Fatal(err)
				}
				for i, rec := range recs {
					if err := w.Write(i%numReduce, rec); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
				for r := range numReduce {
					for rec, err := range m.Fetch(ctx, BlockRef{ShuffleID: 0, MapID: mapID, ReduceID: r}) {
						if err != nil {
							b.Fatal(err)
						}
						rec.Release()
					}
				}
				mapID++
			}
		})
	}
}

func TestDictionaryRoundTrip(t *testing.T) {
	// Each encoded run carries its own dictionary; splicing runs relies on
	// IPC streams allowing a dictionary to be replaced between batches;
	// merging records unifies their dictionaries.
	for _, spill := range []bool{false, true} {
		t.Run(fmt.Sprintf("spill=%v", spill), func(t *testing.T) {
			if spill {
				setSpillThreshold(t, 1)
			}
			testDictionaryRoundTrip(t)
		})
	}
}

func testDictionaryRoundTrip(t *testing.T) {
	m := newTestManager(t, LZ4)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{{Name: "d", Type: dt}}, nil)

	w, err := m.NewWriter(0, 0, 0, 2, schema)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 6 {
		b := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
		var vals []string
		for j := range 3 {
			v := fmt.Sprintf("batch%d-%d", i, j%2)
			vals = append(vals, v)
			if err := b.AppendString(v); err != nil {
				t.Fatal(err)
			}
		}
		arr := b.NewArray()
		b.Release()
		rec := array.NewRecord(schema, []arrow.Array{arr}, 3)
		arr.Release()
		if err := w.Write(1, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		want = append(want, vals...)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for rec, err := range m.Fetch(context.Background(), BlockRef{ShuffleID: 0, MapID: 0, ReduceID: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		d := rec.Column(0).(*array.Dictionary)
		dict := d.Dictionary().(*array.String)
		for i := range d.Len() {
			got = append(got, dict.Value(d.GetValueIndex(i)))
		}
		rec.Release()
	}
	if !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// grant is a Memory of a fixed size.
type grant struct{ left, held int64 }

func (g *grant) Reserve(n int64) int64 {
	n = min(n, g.left)
	g.left -= n
	g.held += n
	return n
}
func (g *grant) Free(n int64) { g.left += n; g.held -= n }

// A writer spills when its task's memory is refused, long before its
// fixed threshold, and gives the memory back.
func TestWriterSpillsWithinItsMemory(t *testing.T) {
	m := newTestManager(t, LZ4)
	rng := rand.New(rand.NewPCG(5, 6))
	w, err := m.NewWriter(1, 0, 1, 2, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	mem := &grant{left: 64 << 10}
	w.UseMemory(mem)
	var want int64
	for i := range 40 {
		rec := newRecord(memory.DefaultAllocator, randomRows(rng, 1000))
		want += rec.NumRows()
		if err := w.Write(i%2, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		if mem.held > 64<<10 {
			t.Fatalf("the writer holds %d bytes of a 64 KiB grant", mem.held)
		}
	}
	if len(w.spills) == 0 {
		t.Error("a writer with a 64 KiB grant did not spill")
	}
	st, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows[0]+st.Rows[1] != want {
		t.Errorf("committed %v rows, want %d", st.Rows, want)
	}
	if mem.held != 0 {
		t.Errorf("after Commit the writer still holds %d bytes", mem.held)
	}
}
