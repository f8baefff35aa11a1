package storage

import (
	"context"
	"fmt"
	"sync"
)

// MemoryManager is a process's memory budget, shared as Spark's
// UnifiedMemoryManager shares it: execution memory (the sort buffers and
// hash tables of running tasks) and storage memory (cached blocks) come
// from one pool. Storage may use what execution leaves free; execution
// may take storage memory back by evicting cached blocks (MemoryAndDisk
// blocks go to disk, MemoryOnly ones are dropped, to be recomputed), but
// not below the protected storage share. Each of the N running tasks
// that hold execution memory may hold at most 1/N of what execution can
// have; a task refused more spills what it holds to disk. As in Spark, a
// task is also sure of 1/(2N): one that holds less, and whose request
// other tasks' memory stands in the way of, waits for them to release
// some (they do as they spill, or end) rather than spill a run of
// next to nothing.
//
// It is safe for concurrent use.
type MemoryManager struct {
	total     int64
	protected int64

	mu          sync.Mutex
	tasks       map[uint64]int64 // execution memory held, by task
	execution   int64
	storageUsed int64
	// released is closed, and replaced, whenever execution memory is
	// given back: a task waiting for its minimum share waits on it.
	released chan struct{}
	// onWait, if set (by tests), is called as a task starts waiting.
	onWait func(task uint64)
	// evict, set by the block Manager that shares the pool, evicts
	// cached blocks until storage holds at most target bytes.
	evict func(target int64)
}

// DefaultStorageFraction is the share of the budget that cached blocks
// keep however much execution wants, as Spark's
// spark.memory.storageFraction.
const DefaultStorageFraction = 0.5

// MinBudget is the smallest budget a process may have: less than this
// cannot hold a task's buffers.
const MinBudget = 8 << 20

// NewMemoryManager returns a budget of total bytes, of which the
// storageFraction share (0 to 1) is protected for cached blocks.
func NewMemoryManager(total int64, storageFraction float64) (*MemoryManager, error) {
	if total < MinBudget {
		return nil, fmt.Errorf("storage: a memory budget of %d bytes is below the minimum of %d", total, MinBudget)
	}
	if storageFraction < 0 || storageFraction > 1 {
		return nil, fmt.Errorf("storage: storage fraction %v is not between 0 and 1", storageFraction)
	}
	return &MemoryManager{total: total, protected: int64(float64(total) * storageFraction), tasks: make(map[uint64]int64), released: make(chan struct{})}, nil
}

// Total is the size of the budget.
func (m *MemoryManager) Total() int64 { return m.total }

// MemoryUsage is a snapshot of a budget.
type MemoryUsage struct {
	Total, Execution, Storage int64
	Tasks                     int // holding execution memory
}

// Usage returns what the budget holds now.
func (m *MemoryManager) Usage() MemoryUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryUsage{Total: m.total, Execution: m.execution, Storage: m.storageUsed, Tasks: len(m.tasks)}
}

// AcquireExecution asks for n more bytes of execution memory for task,
// and returns how many it was granted, between 0 and n: as many as fit
// in the task's share and the pool, after evicting cached blocks beyond
// the protected share if need be. While that would leave the task below
// its minimum share of 1/(2N) because another task holds more than its
// 1/N (N grew since it took it), it waits for such tasks to release
// some, as they do when they spill or end, or for ctx to end (then it
// grants what it can, perhaps nothing).
func (m *MemoryManager) AcquireExecution(ctx context.Context, task uint64, n int64) int64 {
	if n <= 0 {
		return 0
	}
	for {
		m.reclaim(task, n)
		m.mu.Lock()
		want := m.wantLocked(task, n) // others may have moved meanwhile
		grant := max(0, min(want, m.total-m.execution-m.storageUsed))
		held := m.tasks[task]
		if grant == n || held+grant >= m.perTaskLocked()/2 || !m.overShareLocked(task) || ctx.Err() != nil {
			m.tasks[task] += grant
			m.execution += grant
			m.mu.Unlock()
			return grant
		}
		released, onWait := m.released, m.onWait
		m.mu.Unlock()
		if onWait != nil {
			onWait(task)
		}
		select {
		case <-released:
		case <-ctx.Done():
		}
	}
}

// reclaim registers task among the running ones and evicts cached blocks
// beyond the protected share until a request of n bytes, as much as its
// share allows, would fit.
func (m *MemoryManager) reclaim(task uint64, n int64) {
	m.mu.Lock()
	if _, ok := m.tasks[task]; !ok {
		m.tasks[task] = 0
	}
	want := m.wantLocked(task, n)
	free := m.total - m.execution - m.storageUsed
	evict := m.evict
	reclaim := min(want-free, m.storageUsed-m.protected)
	target := m.storageUsed - reclaim
	m.mu.Unlock()
	if reclaim > 0 && evict != nil {
		evict(target) // without m.mu: the block manager calls back
	}
}

// Share is the most execution memory task may hold now: its share of
// the pool among the running tasks. Whether that much is free, or must
// first be taken from cached blocks, is not considered.
func (m *MemoryManager) Share(task uint64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tasks[task]; !ok {
		m.tasks[task] = 0
	}
	return m.tasks[task] + m.wantLocked(task, m.total)
}

// wantLocked is how much of n task may have: what its share leaves.
func (m *MemoryManager) wantLocked(task uint64, n int64) int64 {
	return max(0, min(n, m.perTaskLocked()-m.tasks[task]))
}

// perTaskLocked is the most each running task may hold: 1/N of the pool.
// Half of it, 1/(2N), is what each is sure of.
func (m *MemoryManager) perTaskLocked() int64 {
	pool := m.total - min(m.storageUsed, m.protected) // less the cached blocks execution may not evict
	return pool / int64(max(1, len(m.tasks)))
}

// overShareLocked reports whether a task other than task holds more than
// its share of 1/N, and so will give memory back.
func (m *MemoryManager) overShareLocked(task uint64) bool {
	perTask := m.perTaskLocked()
	for t, held := range m.tasks {
		if t != task && held > perTask {
			return true
		}
	}
	return false
}

// wakeLocked wakes the tasks waiting for their minimum share.
func (m *MemoryManager) wakeLocked() {
	close(m.released)
	m.released = make(chan struct{})
}

// ReleaseExecution gives back n bytes of task's execution memory.
func (m *MemoryManager) ReleaseExecution(task uint64, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	held, ok := m.tasks[task]
	if !ok {
		return
	}
	n = min(n, held)
	m.tasks[task] = held - n
	m.execution -= n
	if n > 0 {
		m.wakeLocked()
	}
}

// ReleaseTask gives back all of task's execution memory; the task no
// longer counts among those that share it.
func (m *MemoryManager) ReleaseTask(task uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.execution -= m.tasks[task]
	delete(m.tasks, task)
	m.wakeLocked() // fewer tasks: larger shares
}

// storageLimit is how many bytes cached blocks may hold now: what
// execution leaves.
func (m *MemoryManager) storageLimit() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total - m.execution
}

// setStorageUsed records what cached blocks hold.
func (m *MemoryManager) setStorageUsed(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.storageUsed = n
}
