package rdd

import (
	"sync"
	"sync/atomic"

	"github.com/ember-go/ember/internal/goroutine"
)

// attemptAdds holds what one task attempt added to accumulators, until the
// attempt ends: they count if it succeeds, and are dropped if it fails or
// is killed, so that an action's additions count once per element however
// often its tasks are retried (Spark sends each task its own copy of an
// accumulator for the same reason). Go has no goroutine-local storage: an
// attempt is found by the id of the goroutine that runs its body, so an
// addition made on another goroutine the task started counts at once.
type attemptAdds struct {
	goroutine int64
	// Only the attempt's goroutine touches what follows.
	last     accumulator // the accumulator added to last, whose delta lastBits holds
	lastBits uint64
	deltas   map[accumulator]uint64 // the others', as their bits
}

// attempts holds the attemptAdds of the task bodies running in this
// process, in slots found from their goroutine id: a lookup, made by
// every Add in a task, takes no lock. running counts them, so that Add on
// the driver, outside tasks, looks nothing up.
var attempts struct {
	running atomic.Int64
	slots   [attemptSlots]atomic.Pointer[attemptAdds]
	mu      sync.Mutex // taken to fill and empty slots
}

// Sizes of the attempts table: an attempt takes one of the attemptProbes
// slots after its goroutine id's; with more attempts at once than that
// finds room for, the extra ones count their additions at once.
const (
	attemptSlots  = 1024
	attemptProbes = 16
)

// beginAttempt starts collecting the calling task body's additions; end
// settles them. It returns nil where goroutines cannot be told apart, or
// the table is full, and additions then count at once.
func beginAttempt() *attemptAdds {
	id := goroutine.ID()
	if id == 0 {
		return nil
	}
	a := &attemptAdds{goroutine: id}
	attempts.mu.Lock()
	defer attempts.mu.Unlock()
	for i := range attemptProbes {
		if slot := &attempts.slots[(id+int64(i))%attemptSlots]; slot.Load() == nil {
			slot.Store(a)
			attempts.running.Add(1)
			return a
		}
	}
	return nil
}

// end stops collecting, and adds what the attempt added to the
// accumulators if it succeeded.
func (a *attemptAdds) end(succeeded bool) {
	if a == nil {
		return
	}
	attempts.mu.Lock()
	for i := range attemptProbes {
		if slot := &attempts.slots[(a.goroutine+int64(i))%attemptSlots]; slot.Load() == a {
			slot.Store(nil)
			attempts.running.Add(-1)
			break
		}
	}
	attempts.mu.Unlock()
	if !succeeded {
		return
	}
	if a.last != nil {
		a.last.addBits(a.lastBits)
	}
	for acc, bits := range a.deltas {
		acc.addBits(bits)
	}
}

// currentAttempt returns the additions of the attempt whose body runs on
// the calling goroutine, or nil.
func currentAttempt() *attemptAdds {
	if attempts.running.Load() == 0 {
		return nil
	}
	id := goroutine.ID()
	for i := range attemptProbes {
		if a := attempts.slots[(id+int64(i))%attemptSlots].Load(); a != nil && a.goroutine == id {
			return a
		}
	}
	return nil
}

// stage adds v to acc's share of the attempt. Only the attempt's own
// goroutine calls it.
func stage[N int64 | float64](a *attemptAdds, acc *Accumulator[N], v N) {
	switch {
	case a.last == accumulator(acc):
	case a.last == nil:
		a.last = acc
	default:
		// Another accumulator: the last one's delta moves to the map.
		if a.deltas == nil {
			a.deltas = make(map[accumulator]uint64)
		}
		a.deltas[a.last] = a.lastBits
		a.last, a.lastBits = acc, a.deltas[acc]
		delete(a.deltas, acc)
	}
	a.lastBits = toBits(fromBits[N](a.lastBits) + v)
}
