// Package gctune keeps the Go garbage collector from running too often
// while a process holds little: it raises the heap goal to a floor.
//
// Go sets the next heap goal to the live heap plus GOGC percent of it,
// and at least 4 MiB. A dataflow task allocates fast and keeps little: a
// scan reads 1 MiB chunks and drops them a moment later. With a live heap
// of a few MiB the collector then runs every few MiB allocated, hundreds
// of times a second, and its marking and write barriers take a fifth of
// the CPU. A floor of tens of MiB makes those cycles rare at a bounded
// cost in memory; above the floor the percent is the process's own.
//
// After every collection the package sets the GC percent so that the next
// goal is at least the floor: live × (1 + percent/100) ≥ floor. It leaves
// the collector alone when GOGC is set in the environment, and restores
// the percent it found when the last user stops.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultFloor is the heap goal floor Ember's processes keep.
const DefaultFloor = 128 << 20

// maxPercent bounds the percent set: with a live heap under 128 KiB the
// goal stays under the floor, which matters little at that size.
const maxPercent = 100_000

var (
	mu      sync.Mutex
	users   int
	floor   int64
	base    int   // the percent found at the first Start
	percent int   // the percent set last
	cycle   int64 // bumped by Stop, so that a finalizer of an old run stops re-arming
)

// Start keeps the heap goal at or above floorBytes (the highest floor of
// those started wins) until the returned stop is called. A floor of 0 or
// less, or GOGC in the environment, makes Start do nothing.
func Start(floorBytes int64) (stop func()) {
	if floorBytes <= 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	mu.Lock()
	defer mu.Unlock()
	floor = max(floor, floorBytes)
	users++
	if users == 1 {
		base = debug.SetGCPercent(100)
		debug.SetGCPercent(base)
		if base < 0 {
			// The collector is off: nothing to tune.
			users, floor = 0, 0
			return func() {}
		}
		percent = base
		arm(cycle)
		tune()
	}
	var once sync.Once
	return func() { once.Do(release) }
}

func release() {
	mu.Lock()
	defer mu.Unlock()
	if users == 0 {
		return
	}
	if users--; users == 0 {
		cycle++
		floor = 0
		debug.SetGCPercent(base)
	}
}

// sentinel is an object whose finalizer runs once per collection.
type sentinel struct{ _ [64]byte } // large enough to stay out of the tiny allocator

// arm makes the next collection call tune, for as long as the tuning
// started in run c goes on.
func arm(c int64) {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		mu.Lock()
		defer mu.Unlock()
		if c != cycle || users == 0 {
			return
		}
		tune()
		arm(c)
	})
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// tune sets the percent from the live heap; mu is held.
func tune() {
	metrics.Read(liveSample)
	live := int64(liveSample[0].Value.Uint64())
	want := base
	if live > 0 && live*int64(100+base)/100 < floor {
		// The runtime holds the percent in an int32.
		want = int(min((floor-live)*100/live, maxPercent))
	}
	if want != percent {
		percent = want
		debug.SetGCPercent(want)
	}
}
