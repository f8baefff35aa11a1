package storage

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
)

func TestMemoryManagerShares(t *testing.T) {
	ctx := context.Background()
	mm, err := NewMemoryManager(100<<20, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// One task may take the whole pool while no block is cached.
	if got := mm.AcquireExecution(ctx, 1, 200<<20); got != 100<<20 {
		t.Fatalf("a lone task was granted %d of 200 MiB asked, want the whole 100 MiB", got)
	}
	mm.ReleaseExecution(1, 60<<20)
	// With two tasks, each may hold half.
	if got := mm.AcquireExecution(ctx, 2, 80<<20); got != 50<<20 {
		t.Errorf("the second task was granted %d, want 50 MiB (1/N)", got)
	}
	if got := mm.AcquireExecution(ctx, 1, 80<<20); got != 10<<20 {
		t.Errorf("the first task, holding 40 MiB, was granted %d more, want 10 MiB", got)
	}
	mm.ReleaseTask(2)
	if u := mm.Usage(); u.Execution != 50<<20 || u.Tasks != 1 {
		t.Errorf("after the second task ended: %+v", u)
	}
	mm.ReleaseTask(1)
	if u := mm.Usage(); u.Execution != 0 || u.Tasks != 0 {
		t.Errorf("after both ended: %+v", u)
	}
	for _, bad := range []struct {
		total int64
		frac  float64
	}{{1 << 20, 0.5}, {100 << 20, -0.1}, {100 << 20, 1.5}} {
		if _, err := NewMemoryManager(bad.total, bad.frac); err == nil {
			t.Errorf("NewMemoryManager(%d, %v): no error", bad.total, bad.frac)
		}
	}
}

// A task that holds less than 1/(2N) of the pool, because another took
// it all while it ran alone, waits for that task to give memory back
// rather than being granted nothing; a cancelled wait grants what there
// is.
func TestMemoryManagerMinimumShare(t *testing.T) {
	ctx := context.Background()
	mm, err := NewMemoryManager(64<<20, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if got := mm.AcquireExecution(ctx, 1, 64<<20); got != 64<<20 {
		t.Fatalf("a lone task was granted %d, want the whole 64 MiB", got)
	}
	waiting := make(chan uint64, 4)
	mm.mu.Lock()
	mm.onWait = func(task uint64) { waiting <- task }
	mm.mu.Unlock()
	granted := make(chan int64)
	go func() { granted <- mm.AcquireExecution(ctx, 2, 8<<20) }()
	if task := <-waiting; task != 2 {
		t.Fatalf("task %d waits, want task 2", task)
	}
	select {
	case got := <-granted:
		t.Fatalf("task 2 was granted %d while task 1 held the whole pool: want it to wait", got)
	default:
	}
	// Task 1, over its half now, is refused more, spills and gives back.
	if got := mm.AcquireExecution(ctx, 1, 1<<20); got != 0 {
		t.Errorf("task 1, over its 1/N, was granted %d more", got)
	}
	mm.ReleaseExecution(1, 40<<20)
	if got := <-granted; got != 8<<20 {
		t.Errorf("task 2 was granted %d once task 1 released, want 8 MiB", got)
	}

	// Past their minimum, tasks take what their 1/N leaves, no more.
	if got := mm.AcquireExecution(ctx, 2, 64<<20); got != 24<<20 {
		t.Errorf("task 2, at 8 MiB, was granted %d more, want 24 MiB (its half)", got)
	}
	if got := mm.AcquireExecution(ctx, 1, 64<<20); got != 8<<20 {
		t.Errorf("task 1, at 24 MiB, was granted %d more, want the 8 MiB free", got)
	}
	// Task 3 arrives: shares are 64/3 MiB and the others hold 32 each:
	// task 3 waits, and a cancelled wait gives what there is, nothing.
	cctx, cancel := context.WithCancel(ctx)
	go func() { granted <- mm.AcquireExecution(cctx, 3, 1<<20) }()
	if task := <-waiting; task != 3 {
		t.Fatalf("task %d waits, want task 3", task)
	}
	cancel()
	if got := <-granted; got != 0 {
		t.Errorf("task 3's cancelled wait granted %d, want 0", got)
	}
	// Task 1 ending wakes task 3 with room to spare.
	go func() { granted <- mm.AcquireExecution(ctx, 3, 1<<20) }()
	<-waiting
	mm.ReleaseTask(1)
	if got := <-granted; got != 1<<20 {
		t.Errorf("task 3 was granted %d after task 1 ended, want 1 MiB", got)
	}
}

// Execution takes memory back from cached blocks down to the protected
// share: MemoryAndDisk blocks go to disk, MemoryOnly ones are dropped.
func TestExecutionEvictsStorage(t *testing.T) {
	ctx := context.Background()
	mm, err := NewMemoryManager(16<<20, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Config{Budget: mm, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rec := makeRecord(nil, 1, 20_000)
	defer rec.Release()
	size := RecordsSize([]arrow.Record{rec})
	var stored []BlockID
	for i := range 16 {
		id := RDDBlock(1, i)
		level := MemoryOnly
		if i%2 == 0 {
			level = MemoryAndDisk
		}
		if res, err := m.Put(id, testSchema, []arrow.Record{rec}, level); err != nil || !res.InMemory {
			break
		}
		stored = append(stored, id)
	}
	used := mm.Usage().Storage
	if used < 8<<20 || len(stored) < 2 {
		t.Fatalf("cached %d blocks of %d bytes, %d bytes in all: want the store to fill most of 16 MiB", len(stored), size, used)
	}
	// A task asks for everything: it gets all but the protected 4 MiB.
	got := mm.AcquireExecution(ctx, 7, 16<<20)
	u := mm.Usage()
	if got < 16<<20-4<<20-size || u.Storage > 4<<20 || got+u.Storage > 16<<20 {
		t.Fatalf("granted %d; storage holds %d after eviction: want it at most the protected 4 MiB", got, u.Storage)
	}
	onDisk, dropped := 0, 0
	for i, id := range stored {
		mem, disk, ok := m.Sizes(id)
		switch {
		case !ok:
			dropped++
			if i%2 == 0 {
				t.Errorf("MemoryAndDisk block %s was dropped, not spilled", id)
			}
		case mem == 0 && disk > 0:
			onDisk++
		}
	}
	if onDisk == 0 || dropped == 0 {
		t.Errorf("after eviction: %d blocks spilled to disk, %d dropped; want some of each", onDisk, dropped)
	}
	// While the task holds it, the store caches only within what is left.
	if res, _ := m.Put(RDDBlock(2, 0), testSchema, []arrow.Record{rec}, MemoryOnly); res.InMemory && mm.Usage().Storage+got > 16<<20 {
		t.Errorf("a block was cached beyond the budget")
	}
	mm.ReleaseTask(7)
}
