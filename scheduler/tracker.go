package scheduler

import (
	"fmt"
	"sync"

	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// mapOutputTracker remembers, for every shuffle, the status of each map
// task's output. A reduce task asks it where its blocks are; the scheduler
// asks it which map partitions are missing.
type mapOutputTracker struct {
	mu       sync.Mutex
	shuffles map[int][]*shuffle.MapStatus
	epoch    uint64 // of the last registration
}

// newMapOutputTracker returns an empty tracker.
func newMapOutputTracker() *mapOutputTracker {
	return &mapOutputTracker{shuffles: make(map[int][]*shuffle.MapStatus)}
}

// Register records the output of one map task, with a new epoch.
func (t *mapOutputTracker) Register(shuffleID, numMaps int, st shuffle.MapStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	outs := t.outputs(shuffleID, numMaps)
	t.epoch++
	st.Epoch = t.epoch
	outs[st.MapID] = &st
}

// Unregister forgets one map output, so that it is computed again, if it is
// still the registration of the given epoch (zero matches any): a late
// report about an output that was recomputed since leaves the new one.
func (t *mapOutputTracker) Unregister(shuffleID, mapID int, epoch uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	outs, ok := t.shuffles[shuffleID]
	if !ok || mapID < 0 || mapID >= len(outs) || outs[mapID] == nil {
		return
	}
	if epoch == 0 || outs[mapID].Epoch == epoch {
		outs[mapID] = nil
	}
}

// Missing returns the map partitions of the shuffle that have no output.
func (t *mapOutputTracker) Missing(shuffleID, numMaps int) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var missing []int
	for i, st := range t.outputs(shuffleID, numMaps) {
		if st == nil {
			missing = append(missing, i)
		}
	}
	return missing
}

// Statuses returns every map output of the shuffle, or an error if one is
// missing.
func (t *mapOutputTracker) Statuses(shuffleID int) ([]*shuffle.MapStatus, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	outs, ok := t.shuffles[shuffleID]
	if !ok {
		return nil, fmt.Errorf("scheduler: shuffle %d has no registered output", shuffleID)
	}
	for i, st := range outs {
		if st == nil {
			return nil, &task.FetchFailedError{ShuffleID: shuffleID, MapID: i, Err: fmt.Errorf("map output missing")}
		}
	}
	return append([]*shuffle.MapStatus(nil), outs...), nil
}

// RemoveLocation forgets every map output held at location (an executor
// that was lost), so that stages needing them compute them again. It
// returns how many outputs it forgot.
func (t *mapOutputTracker) RemoveLocation(location string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, outs := range t.shuffles {
		for i, st := range outs {
			if st != nil && st.Location == location {
				outs[i] = nil
				n++
			}
		}
	}
	return n
}

// Remove forgets a whole shuffle.
func (t *mapOutputTracker) Remove(shuffleID int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.shuffles, shuffleID)
}

func (t *mapOutputTracker) outputs(shuffleID, numMaps int) []*shuffle.MapStatus {
	outs, ok := t.shuffles[shuffleID]
	if !ok || len(outs) != numMaps {
		outs = make([]*shuffle.MapStatus, numMaps)
		t.shuffles[shuffleID] = outs
	}
	return outs
}
