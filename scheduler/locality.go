package scheduler

import (
	"slices"
	"sync"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/storage"
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
	locs map[[2]int][]string // (node ID, partition) → executors, latest first
	// sizes holds what each copy takes on its executor: memory, disk.
	sizes map[copyOf][2]int64
}

// copyOf names a cached partition's copy on one executor.
type copyOf struct {
	rdd, partition int
	executor       string
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
func (c *cacheLocations) stored(at string, blocks []executor.StoredBlock) {
	if at == "" || len(blocks) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locs == nil {
		c.locs = make(map[[2]int][]string)
		c.sizes = make(map[copyOf][2]int64)
	}
	for _, b := range blocks {
		rdd, p, err := storage.ParseRDDBlock(storage.BlockID(b.ID))
		if err != nil {
			continue
		}
		k := [2]int{rdd, p}
		c.locs[k] = append([]string{at}, slices.DeleteFunc(c.locs[k], func(e string) bool { return e == at })...)
		c.sizes[copyOf{rdd, p, at}] = [2]int64{b.Memory, b.Disk}
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
	for k := range c.sizes {
		if k.rdd == rdd {
			delete(c.sizes, k)
		}
	}
}

// forget drops what a lost executor held.
func (c *cacheLocations) forget(executor string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, execs := range c.locs {
		if execs = slices.DeleteFunc(execs, func(e string) bool { return e == executor }); len(execs) == 0 {
			delete(c.locs, k)
		} else {
			c.locs[k] = execs
		}
	}
	for k := range c.sizes {
		if k.executor == executor {
			delete(c.sizes, k)
		}
	}
}

// all returns the known holders of the persisted partitions that
// partition p of n reads.
func (c *cacheLocations) all(n Node, p int) []executor.CachedBlock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.locs) == 0 {
		return nil // local mode, or nothing cached: no walk per task
	}
	var out []executor.CachedBlock
	persistedIn(n, p, func(n Node, p int) bool {
		for _, at := range c.locs[[2]int{n.ID(), p}] {
			out = append(out, executor.CachedBlock{RDD: n.ID(), Partition: p, Executor: at})
		}
		return true
	})
	return out
}
