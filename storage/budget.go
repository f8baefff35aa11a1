package storage

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/ember-go/ember/internal/sysmem"
)

// BudgetSize is the size of a process's memory budget and where it comes
// from.
type BudgetSize struct {
	// Total is the budget: what tasks' execution memory and cached
	// blocks share.
	Total int64
	// Source says how it was sized: "memory.limit", or the share of a
	// cgroup limit, GOMEMLIMIT or physical memory.
	Source string
	// HeapLimit is the soft limit set on the Go runtime, so that the heap
	// stays within the process's memory; 0 if none was set.
	HeapLimit int64
}

// BudgetFraction is the share of the process's memory limit that becomes
// the budget when none is set (as Spark's spark.memory.fraction): the rest
// holds what the budget does not count, such as batches in flight,
// buffers of the network and the runtime, and garbage not yet collected.
const BudgetFraction = 0.4

// heapFraction is the share of a known process limit given to the Go
// runtime as its soft limit, leaving room for memory outside the heap.
const heapFraction = 0.7

// minHeapLimit is the least soft limit a set budget gives the runtime:
// below it the collector would run without pause.
const minHeapLimit = 64 << 20

// SizeBudget sizes the memory budget: set bytes if positive (the
// memory.limit or executor.memory setting), else BudgetFraction of the
// first limit found among the process's cgroup, GOMEMLIMIT and physical
// memory.
func SizeBudget(set int64) BudgetSize {
	if set > 0 {
		// The process may use half as much again outside the budget,
		// and the runtime's own needs.
		return BudgetSize{Total: set, Source: "set", HeapLimit: max(set+set/2, minHeapLimit)}
	}
	l := sysmem.Find()
	b := BudgetSize{Total: int64(float64(l.Bytes) * BudgetFraction),
		Source: fmt.Sprintf("%.0f%% of %d bytes, the limit of %s", BudgetFraction*100, l.Bytes, l.Source)}
	if l.Source != "physical memory" && l.Source != "GOMEMLIMIT" {
		b.HeapLimit = int64(float64(l.Bytes) * heapFraction)
	}
	return b
}

// NewProcessBudget sizes the process's budget (SizeBudget) and returns
// its manager, with cached blocks protected up to DefaultStorageFraction.
// Until release is called, the Go runtime's soft memory limit is at most
// the budget's HeapLimit, to keep the heap within the process's memory:
// the lowest of the budgets alive, never above a limit set before.
func NewProcessBudget(set int64) (mm *MemoryManager, size BudgetSize, release func(), err error) {
	size = SizeBudget(set)
	if mm, err = NewMemoryManager(size.Total, DefaultStorageFraction); err != nil {
		return nil, size, nil, err
	}
	return mm, size, heapLimits.hold(size.HeapLimit), nil
}

// heapLimits sets the runtime's soft limit to the lowest HeapLimit of the
// budgets alive, and back to what it found when none is left.
var heapLimits = &softLimits{held: make(map[*int64]int64)}

type softLimits struct {
	mu       sync.Mutex
	held     map[*int64]int64 // by token
	original int64            // the limit found when the first was held
}

// hold keeps the soft limit at most limit (if positive) until release.
func (h *softLimits) hold(limit int64) (release func()) {
	if limit <= 0 {
		return func() {}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) == 0 {
		h.original = debug.SetMemoryLimit(-1)
	}
	token := new(int64)
	h.held[token] = limit
	h.applyLocked()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.held, token)
			h.applyLocked()
		})
	}
}

func (h *softLimits) applyLocked() {
	limit := h.original
	for _, l := range h.held {
		limit = min(limit, l)
	}
	debug.SetMemoryLimit(limit)
}
