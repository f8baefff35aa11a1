package gctune

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// gcPercent reads the GC percent in force, without setting it.
func gcPercent() int { return int(read("/gc/gogc:percent")) }

// watchCollections has the tuning report the collections it follows:
// tuned receives when a collection's finalizer has set the percent, ended
// when one has found the tuning stopped. Neither send blocks; each
// channel keeps one report.
func watchCollections(t *testing.T) (tuned, ended <-chan struct{}) {
	tc, ec := make(chan struct{}, 1), make(chan struct{}, 1)
	mu.Lock()
	collected = func(ok bool) {
		c := ec
		if ok {
			c = tc
		}
		select {
		case c <- struct{}{}:
		default:
		}
	}
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		collected = nil
		mu.Unlock()
	})
	return tc, ec
}

// eventually waits for cond, running collections: the tuning follows
// each of them, from a finalizer, and cond is checked again once it has.
// The sentinel armed before runtime.GC is collected by the cycle that
// runtime.GC starts, so each collection gets its report.
func eventually(t *testing.T, tuned <-chan struct{}, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		runtime.GC()
		select {
		case <-tuned:
		case <-deadline:
			t.Fatalf("%s: GC percent %d", what, gcPercent())
		}
	}
}

func TestFloor(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the tuning stays off")
	}
	tuned, ended := watchCollections(t)
	before := gcPercent()
	stop := Start(256 << 20)
	// A small live heap: the percent rises so that the goal reaches the
	// floor.
	eventually(t, tuned, "small live heap", func() bool { return gcPercent() > 400 })

	// A live heap above the floor: the process's own percent again.
	big := make([]byte, 300<<20)
	for i := range big {
		big[i] = byte(i)
	}
	eventually(t, tuned, "large live heap", func() bool { return gcPercent() == before })
	runtime.KeepAlive(big)
	big = nil
	eventually(t, tuned, "small live heap again", func() bool { return gcPercent() > 400 })

	// A second user with a lower floor: when the first stops, the lower
	// floor is the one kept; the last stop restores the percent.
	high := gcPercent()
	stop2 := Start(64 << 20)
	stop()
	stop() // idempotent
	if p := gcPercent(); p <= before || p >= high {
		t.Errorf("GC percent %d after the 256 MiB user stopped, want between %d and %d (the 64 MiB floor)", p, before, high)
	}
	stop2()
	if p := gcPercent(); p != before {
		t.Errorf("GC percent %d after the last stop, want %d", p, before)
	}
	// The finalizer armed before the stop runs at the next collection,
	// finds the tuning stopped and leaves the percent alone.
	runtime.GC()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("no collection's finalizer saw the tuning stopped")
	}
	if p := gcPercent(); p != before {
		t.Errorf("GC percent %d after a collection once stopped, want %d", p, before)
	}
}

// The percent puts the next heap goal near the floor, whatever the live
// heap: the runtime's minimum heap, scaled by the percent, included.
func TestPercentFor(t *testing.T) {
	const floor = 128 << 20
	for _, live := range []int64{1, 2, 1 << 10, 1 << 20, 4 << 20, 30 << 20, 63 << 20} {
		for _, roots := range []int64{0, 256 << 10} {
			p := int64(percentFor(live, roots, floor, 100))
			goal := max(live+(live+roots)*p/100, runtimeMinHeap*p/100)
			if goal > floor+floor/64 || (live >= 1<<20 && goal < floor-floor/64) {
				t.Errorf("live %d, roots %d: percent %d gives a goal of %d MiB, want about %d", live, roots, p, goal>>20, floor>>20)
			}
		}
	}
	// At or above the floor: the base percent.
	if p := percentFor(100<<20, 0, floor, 100); p != 100 {
		t.Errorf("percent %d for a live heap past half the floor, want 100", p)
	}
	if p := percentFor(0, 0, floor, 100); p != 100 {
		t.Errorf("percent %d for nothing measured, want 100", p)
	}
}

func TestOffWhenGOGCIsSet(t *testing.T) {
	t.Setenv("GOGC", "100")
	before := gcPercent()
	stop := Start(256 << 20)
	defer stop()
	runtime.GC()
	if p := gcPercent(); p != before {
		t.Errorf("GC percent %d with GOGC set, want %d", p, before)
	}
}

func TestOffWithoutFloor(t *testing.T) {
	before := gcPercent()
	stop := Start(-1)
	defer stop()
	if p := gcPercent(); p != before {
		t.Errorf("GC percent %d with no floor, want %d", p, before)
	}
}

// In a process that may use little memory (a small cgroup), the floor is
// at most an eighth of it.
func TestFloorUnderTheProcessLimit(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the tuning stays off")
	}
	defer func(f func() int64) { limitOfProcess = f }(limitOfProcess)
	limitOfProcess = func() int64 { return 256 << 20 }
	stop := Start(DefaultFloor)
	mu.Lock()
	got := floor
	mu.Unlock()
	stop()
	if got != 32<<20 {
		t.Errorf("floor %d in a 256 MiB process, want 32 MiB", got)
	}
	limitOfProcess = func() int64 { return 24 << 30 }
	stop = Start(DefaultFloor)
	mu.Lock()
	got = floor
	mu.Unlock()
	stop()
	if got != DefaultFloor {
		t.Errorf("floor %d on 24 GiB, want DefaultFloor", got)
	}
}
