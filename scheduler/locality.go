package scheduler

import (
	"slices"
	"sync"

	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
)

// Persisted is implemented by nodes whose partitions may be kept by the
// executors that computed them (cached RDDs). The scheduler remembers where
// each such partition was computed and prefers that executor for the tasks
// that read it.
type Persisted interface {
	Persisted() bool
}

// cacheLocations remembers which executors hold each partition of the
// persisted nodes, as the tasks that stored them reported.
type cacheLocations struct {
	mu   sync.Mutex
	locs map[[2]int][]copyAt // (node ID, partition) → its copies, latest first
}

// copyAt is a cached partition's copy on one executor, and the bytes it
// takes there.
type copyAt struct {
	executor     string
	memory, disk int64
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

// stored notes that executor holds the blocks a task stored.
func (c *cacheLocations) stored(at string, blocks []task.StoredBlock) {
	if at == "" || len(blocks) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locs == nil {
		c.locs = make(map[[2]int][]copyAt)
	}
	for _, b := range blocks {
		rdd, p, err := storage.ParseRDDBlock(storage.BlockID(b.ID))
		if err != nil {
			continue
		}
		k := [2]int{rdd, p}
		others := slices.DeleteFunc(c.locs[k], func(h copyAt) bool { return h.executor == at })
		c.locs[k] = append([]copyAt{{at, b.Memory, b.Disk}}, others...)
	}
}

// forgetRDD drops the partitions of an RDD.
func (c *cacheLocations) forgetRDD(rdd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.locs {
		if k[0] == rdd {
			delete(c.locs, k)
		}
	}
}

// forget drops what a lost executor held.
func (c *cacheLocations) forget(executor string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, copies := range c.locs {
		if copies = slices.DeleteFunc(copies, func(h copyAt) bool { return h.executor == executor }); len(copies) == 0 {
			delete(c.locs, k)
		} else {
			c.locs[k] = copies
		}
	}
}

// partitions lists the cached partitions, by RDD and partition.
func (c *cacheLocations) partitions() []CachedPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CachedPartition, 0, len(c.locs))
	for k, copies := range c.locs {
		cp := CachedPartition{RDD: k[0], Partition: k[1]}
		for _, h := range copies {
			cp.Executors = append(cp.Executors, h.executor)
			cp.Memory += h.memory
			cp.Disk += h.disk
		}
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b CachedPartition) int {
		if a.RDD != b.RDD {
			return a.RDD - b.RDD
		}
		return a.Partition - b.Partition
	})
	return out
}

// all returns the known holders of the persisted partitions that
// partition p of n reads.
func (c *cacheLocations) all(n Node, p int) []task.CachedBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.locs) == 0 {
		return nil // local mode, or nothing cached: no walk per task
	}
	var out []task.CachedBlock
	persistedIn(n, p, func(n Node, p int) bool {
		for _, h := range c.locs[[2]int{n.ID(), p}] {
			out = append(out, task.CachedBlock{RDD: n.ID(), Partition: p, Executor: h.executor})
		}
		return true
	})
	return out
}
