// Package gctune keeps the Go garbage collector from running too often
// while a process holds little: it raises the heap goal to a floor.
//
// Go sets the next heap goal to the live heap plus GOGC percent of it
// (and of the stacks and globals it scans), and at least 4 MiB scaled by
// GOGC/100. A dataflow task allocates fast and keeps little: a scan reads
// 1 MiB chunks and drops them a moment later. With a live heap of a few
// MiB the collector then runs every few MiB allocated, hundreds of times
// a second, and its marking and write barriers take a fifth of the CPU. A
// floor of tens of MiB makes those cycles rare at a bounded cost in
// memory; above the floor the percent is the process's own.
//
// After every collection the package sets the GC percent so that the next
// goal comes near the floor and not past it. It leaves the collector alone
// when GOGC is set in the environment or the collector is off, keeps the
// floor under half of a memory limit (GOMEMLIMIT), and restores the
// percent it found when the last user stops. It also keeps the floor under
// an eighth of the memory the process may use (its cgroup's limit, as
// package sysmem finds it): the processes of a small container, a driver
// and its local executors, share that memory, and each would otherwise
// hold a floor of garbage. While it runs, it owns the
// GC percent: a program's own debug.SetGCPercent is overridden at the next
// collection.
package gctune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/ember-go/ember/internal/sysmem"
)

// DefaultFloor is the heap goal floor Ember's processes keep.
const DefaultFloor = 128 << 20

// runtimeMinHeap is the runtime's smallest heap goal at GOGC=100; it
// scales with the percent.
const runtimeMinHeap = 4 << 20

var (
	mu      sync.Mutex
	floors  = map[*int]int64{} // of the users started, by token
	floor   int64              // the highest of floors
	base    int                // the percent found at the first Start
	percent int                // the percent set last
	cycle   int64              // bumped when the last user stops, ending the finalizer chain

	// collected, when set, is called with mu held after the finalizer of
	// each collection has run: tuned is true when it set the percent and
	// armed the next collection, false when it found the tuning stopped
	// and ended the chain. Tests wait on it instead of sleeping.
	collected func(tuned bool)
)

// Start keeps the heap goal near floorBytes, or the highest floor of
// those started, until the returned stop is called. A floor of 0 or less,
// GOGC in the environment, or a collector turned off make Start do
// nothing.
func Start(floorBytes int64) (stop func()) {
	if floorBytes <= 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(floors) == 0 {
		processLimit = limitOfProcess()
		base = int(read("/gc/gogc:percent"))
		if base <= 0 {
			return func() {} // off, or never collecting by percent
		}
		percent = base
		arm(cycle)
	}
	token := new(int)
	floors[token] = floorBytes
	setFloorLocked()
	tune()
	var once sync.Once
	return func() { once.Do(func() { release(token) }) }
}

func release(token *int) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := floors[token]; !ok {
		return
	}
	delete(floors, token)
	if len(floors) > 0 {
		setFloorLocked()
		tune()
		return
	}
	cycle++
	floor = 0
	percent = base
	debug.SetGCPercent(base)
}

// setFloorLocked sets floor to the highest one started, kept under half
// of the memory limit.
func setFloorLocked() {
	floor = 0
	for _, f := range floors {
		floor = max(floor, f)
	}
	if limit := int64(read("/gc/gomemlimit:bytes")); limit > 0 && limit < math.MaxInt64 {
		floor = min(floor, limit/2)
	}
	if processLimit > 0 {
		floor = min(floor, processLimit/8)
	}
}

// processLimit is the memory the process may use, found at the first
// Start.
var processLimit int64

// limitOfProcess finds processLimit; tests replace it.
var limitOfProcess = func() int64 { return sysmem.Find().Bytes }

// sentinel is an object whose finalizer runs once per collection.
type sentinel struct{ _ [64]byte } // large enough to stay out of the tiny allocator

// arm makes the next collection call tune, for as long as the tuning
// started in run c goes on.
func arm(c int64) {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		mu.Lock()
		defer mu.Unlock()
		if c != cycle || len(floors) == 0 {
			if collected != nil {
				collected(false)
			}
			return
		}
		tune()
		arm(c)
		if collected != nil {
			collected(true)
		}
	})
}

// tune sets the percent from the live heap; mu is held.
func tune() {
	want := percentFor(int64(read("/gc/heap/live:bytes")), int64(read("/gc/scan/stack:bytes")+read("/gc/scan/globals:bytes")), floor, base)
	if want != percent {
		percent = want
		debug.SetGCPercent(want)
	}
}

// percentFor returns the GC percent whose next heap goal is about floor
// for a live heap of live bytes and scanned roots of roots bytes: the
// goal is live + (live+roots)×percent/100, and at least the runtime's
// minimum heap scaled by percent/100, which must stay under the floor
// too. It is base when that already reaches the floor.
func percentFor(live, roots, floor int64, base int) int {
	scanned := live + roots
	if scanned <= 0 || live+scanned*int64(base)/100 >= floor {
		return base
	}
	p := (floor - live) * 100 / scanned
	p = min(p, floor*100/runtimeMinHeap)
	return max(int(p), base)
}

// read returns a runtime metric's value as a number.
func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
