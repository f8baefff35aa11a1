package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the current GC percent.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// eventually waits for cond, running collections: the tuning follows
// them, from a finalizer.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: GC percent %d", what, gcPercent())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFloor(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the tuning stays off")
	}
	before := gcPercent()
	stop := Start(256 << 20)
	// A small live heap: the percent rises so that the goal reaches the
	// floor.
	eventually(t, "small live heap", func() bool { return gcPercent() > 400 })

	// A live heap above the floor: the process's own percent again.
	big := make([]byte, 300<<20)
	for i := range big {
		big[i] = byte(i)
	}
	eventually(t, "large live heap", func() bool { return gcPercent() == before })
	runtime.KeepAlive(big)
	big = nil
	eventually(t, "small live heap again", func() bool { return gcPercent() > 400 })

	// A second user keeps it on; the last one's stop restores the percent.
	stop2 := Start(64 << 20)
	stop()
	stop() // idempotent
	if gcPercent() <= 400 {
		t.Errorf("GC percent %d after one of two users stopped, want it still raised", gcPercent())
	}
	stop2()
	if p := gcPercent(); p != before {
		t.Errorf("GC percent %d after the last stop, want %d", p, before)
	}
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if p := gcPercent(); p != before {
		t.Errorf("GC percent %d after a collection once stopped, want %d", p, before)
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

// With a live heap of a few bytes the percent stays within what the
// runtime holds.
func TestTinyLiveHeap(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: the tuning stays off")
	}
	mu.Lock()
	saved := floor
	floor, base, percent = 1<<40, 100, 100
	tune()
	got := percent
	floor, percent = saved, 100
	debug.SetGCPercent(100)
	mu.Unlock()
	if got <= 0 || got > maxPercent {
		t.Errorf("percent %d for a 1 TiB floor, want within (0, %d]", got, maxPercent)
	}
}
