package scheduler

import "sync"

// Persisted is implemented by nodes whose partitions may be kept by the
// executors that computed them (cached RDDs). The scheduler remembers where
// each such partition was computed and prefers that executor for the tasks
// that read it.
type Persisted interface {
	Persisted() bool
}

// cacheLocations remembers which executor computed each partition of the
// persisted nodes.
type cacheLocations struct {
	mu   sync.Mutex
	locs map[[2]int]string // (node ID, partition) → executor
}

// persistedIn calls f with every persisted node that partition p of n
// reads within its stage (through narrow dependencies), and the partition
// of it that is read, nearest first, until f returns false.
func persistedIn(n Node, p int, f func(n Node, p int) bool) {
	var walk func(Node, int) bool
	walk = func(n Node, p int) bool {
		if x, ok := n.(Persisted); ok && x.Persisted() && !f(n, p) {
			return false
		}
		for _, d := range n.Dependencies() {
			if d.Shuffle != nil || d.Parents == nil {
				continue
			}
			for _, pp := range d.Parents(p) {
				if !walk(d.Parent, pp) {
					return false
				}
			}
		}
		return true
	}
	walk(n, p)
}

// record notes that the task computing partition p of n ran on executor.
func (c *cacheLocations) record(n Node, p int, executor string) {
	if executor == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	persistedIn(n, p, func(n Node, p int) bool {
		if c.locs == nil {
			c.locs = make(map[[2]int]string)
		}
		c.locs[[2]int{n.ID(), p}] = executor
		return true
	})
}

// preferred returns the executor that holds a persisted partition that
// partition p of n reads, or "".
func (c *cacheLocations) preferred(n Node, p int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at string
	persistedIn(n, p, func(n Node, p int) bool {
		at = c.locs[[2]int{n.ID(), p}]
		return at == ""
	})
	return at
}
