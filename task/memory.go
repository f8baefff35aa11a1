package task

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
)

// taskMemory is what a task attempt holds of its executor's memory budget
// and disk: execution memory, and the directory of its spill files.
type taskMemory struct {
	id   uint64 // the attempt, to the budget
	held atomic.Int64
	peak atomic.Int64

	mu       sync.Mutex
	spillDir string
	ended    bool
}

// attemptIDs numbers the task attempts of the process, for the budget.
var attemptIDs atomic.Uint64

// Reserve asks for n more bytes of execution memory (for a sort buffer, a
// hash table) and returns how many the budget granted, from 0 to n: a
// task given less than it asked for spills what it holds and tries again.
// Without a budget every request is granted.
func (tc *Context) Reserve(n int64) int64 {
	if n <= 0 {
		return 0
	}
	m := &tc.memory
	if tc.Env != nil && tc.Env.Memory != nil {
		ctx := tc.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		n = tc.Env.Memory.AcquireExecution(ctx, m.attempt(), n)
	}
	held := m.held.Add(n)
	for {
		peak := m.peak.Load()
		if held <= peak || m.peak.CompareAndSwap(peak, held) {
			return n
		}
	}
}

// Share is the most execution memory the task may hold now, its share
// among the running tasks, so that an operator can choose a plan that
// fits before it asks (Reserve may take cached blocks to grant a request).
// Without a budget it is unbounded.
func (tc *Context) Share() int64 {
	if tc.Env == nil || tc.Env.Memory == nil {
		return math.MaxInt64
	}
	return tc.Env.Memory.Share(tc.memory.attempt())
}

// Free gives back n bytes of the execution memory the task reserved.
func (tc *Context) Free(n int64) {
	m := &tc.memory
	n = min(n, m.held.Load())
	if n <= 0 {
		return
	}
	m.held.Add(-n)
	if tc.Env != nil && tc.Env.Memory != nil {
		tc.Env.Memory.ReleaseExecution(m.attempt(), n)
	}
}

func (m *taskMemory) attempt() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.id == 0 {
		m.id = attemptIDs.Add(1)
	}
	return m.id
}

// SpillDir returns a directory of the task's own for its spill files,
// made on first use and removed with everything in it when the task ends
// (End), whether it succeeded, failed or was cancelled.
func (tc *Context) SpillDir() (string, error) {
	m := &tc.memory
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return "", fmt.Errorf("task %d of stage %d has ended: no spill directory", tc.Partition, tc.StageID)
	}
	if m.spillDir == "" {
		root := ""
		if tc.Env != nil {
			root = tc.Env.SpillDir
		}
		if root != "" {
			if err := os.MkdirAll(root, 0o700); err != nil {
				return "", fmt.Errorf("spill directory: %w", err)
			}
		}
		dir, err := os.MkdirTemp(root, fmt.Sprintf("spill-%d-%d-%d-*", tc.StageID, tc.Partition, tc.Attempt))
		if err != nil {
			return "", fmt.Errorf("spill directory: %w", err)
		}
		m.spillDir = dir
	}
	return m.spillDir, nil
}

// End releases what the task holds: its execution memory and its spill
// files. The backend that ran the task calls it once the task returned.
func (tc *Context) End() error {
	m := &tc.memory
	if tc.Env != nil && tc.Env.Memory != nil {
		m.mu.Lock()
		id := m.id
		m.mu.Unlock()
		if id != 0 {
			tc.Env.Memory.ReleaseTask(id)
		}
	}
	m.held.Store(0)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended = true
	if m.spillDir == "" {
		return nil
	}
	dir := m.spillDir
	m.spillDir = ""
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove spill files: %w", err)
	}
	return nil
}
