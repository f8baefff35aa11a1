// Package scheduler is Ember's DAG scheduler. It cuts the lineage graph of
// an action into stages at shuffle dependencies, runs the parent stages
// first, one task per missing partition, and retries what fails: a failed
// task is run again up to Config.MaxFailures times, and a reduce task that
// cannot find its map output makes the scheduler recompute that output from
// lineage. Shuffle outputs are remembered in a MapOutputTracker, so a later
// job that needs the same shuffle reuses them instead of running it again.
//
// The scheduler knows nothing of element types: it sees the graph through
// the Node interface and runs the functions that package rdd gives it.
package scheduler

import (
	"context"
	"sync"

	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/task"
)

// Node is one RDD of the lineage graph, as the scheduler sees it.
type Node interface {
	// ID is unique within a session.
	ID() int
	NumPartitions() int
	Dependencies() []Dependency
	// String describes the node for messages, with its creation site:
	// "Map [3] at main.go:42".
	String() string
}

// Dependency links a node to one parent. A narrow dependency computes each
// partition of the child from a few partitions of the parent in the same
// task, as Parents says; a shuffle dependency (Shuffle set, Parents nil)
// needs every partition of the parent and separates two stages.
type Dependency struct {
	Parent Node
	// Parents returns the partitions of Parent that partition child of
	// the node reads; nil for a shuffle dependency.
	Parents func(child int) []int
	Shuffle *ShuffleDependency
}

// OneToOne is the narrow dependency of Map, Filter, Zip and the like:
// partition i reads partition i of the parent.
func OneToOne(parent Node) Dependency {
	return Dependency{Parent: parent, Parents: func(child int) []int { return []int{child} }}
}

// RangeDependency is Union's: the child's partitions [outStart,
// outStart+length) are the parent's [inStart, inStart+length).
func RangeDependency(parent Node, inStart, outStart, length int) Dependency {
	return Dependency{Parent: parent, Parents: func(child int) []int {
		if child < outStart || child >= outStart+length {
			return nil
		}
		return []int{child - outStart + inStart}
	}}
}

// NarrowDependency is a narrow dependency with any mapping of partitions
// (Coalesce, Cartesian).
func NarrowDependency(parent Node, parents func(child int) []int) Dependency {
	return Dependency{Parent: parent, Parents: parents}
}

// ShuffleDependency is a stage boundary: the parent's partitions are written
// as map outputs, and the child reads them by reduce partition.
type ShuffleDependency struct {
	ID        int // unique within a session
	NumReduce int
	// Prepare, if set, runs once on the driver before the first map task,
	// after the map stage's own parents are ready. A range partitioner
	// samples its keys here, with a job of Sample tasks described to other
	// processes by spec (nil in local mode). It is retried if it fails.
	Prepare func(ctx context.Context, spec task.JobSpec) error
	// MapTask computes one partition of the parent and writes it as map
	// output.
	MapTask func(tc *task.Context, mapPartition int) (shuffle.MapStatus, error)
	// Sample, with Prepare, samples the keys of one partition of the
	// parent and returns them encoded.
	Sample func(tc *task.Context, mapPartition int) ([]byte, error)
	// State returns what Prepare learned, for executors in other
	// processes, whose map tasks call Restore with it first; both nil when
	// there is no Prepare.
	State   func() []byte
	Restore func([]byte) error

	prepareMu sync.Mutex
	prepared  bool
}

func (d *ShuffleDependency) prepare(ctx context.Context, spec task.JobSpec) error {
	if d.Prepare == nil {
		return nil
	}
	d.prepareMu.Lock()
	defer d.prepareMu.Unlock()
	if d.prepared {
		return nil
	}
	if err := d.Prepare(ctx, spec); err != nil {
		return err
	}
	d.prepared = true
	return nil
}

// FindShuffle returns the shuffle dependency with the given ID in the
// lineage of n, or nil.
func FindShuffle(n Node, shuffleID int) *ShuffleDependency {
	seen := map[int]bool{}
	var walk func(Node) *ShuffleDependency
	walk = func(n Node) *ShuffleDependency {
		if seen[n.ID()] {
			return nil
		}
		seen[n.ID()] = true
		for _, d := range n.Dependencies() {
			if d.Shuffle != nil && d.Shuffle.ID == shuffleID {
				return d.Shuffle
			}
			if found := walk(d.Parent); found != nil {
				return found
			}
		}
		return nil
	}
	return walk(n)
}

// stageShuffles returns the shuffle dependencies at the edge of the stage
// that ends in n: every shuffle reached from n through narrow dependencies.
func stageShuffles(n Node) []Dependency {
	var out []Dependency
	walkStage(n, func(n Node) {
		for _, d := range n.Dependencies() {
			if d.Shuffle != nil {
				out = append(out, d)
			}
		}
	})
	return out
}

// RDDInfo describes an RDD of a stage, for drawing the stage's graph.
type RDDInfo struct {
	ID   int
	Name string // Node.String()
	// Parents are the RDDs of the same stage it reads; Shuffles, the
	// shuffles it reads, each written by another stage.
	Parents  []int
	Shuffles []int
	// Cached says the RDD is persisted: its partitions are read from the
	// cache once computed.
	Cached bool
}

// stageRDDs lists the RDDs the stage ending in n computes, parents before
// children.
func stageRDDs(n Node) []RDDInfo {
	var out []RDDInfo
	walkStage(n, func(n Node) {
		info := RDDInfo{ID: n.ID(), Name: n.String()}
		if x, ok := n.(Persisted); ok {
			info.Cached = x.Persisted()
		}
		for _, d := range n.Dependencies() {
			if d.Shuffle != nil {
				info.Shuffles = append(info.Shuffles, d.Shuffle.ID)
			} else {
				info.Parents = append(info.Parents, d.Parent.ID())
			}
		}
		out = append(out, info)
	})
	return out
}

// walkStage calls visit with every node of the stage ending in n, once
// each, parents first, following narrow dependencies only.
func walkStage(n Node, visit func(Node)) {
	seen := map[int]bool{}
	var walk func(Node)
	walk = func(n Node) {
		if seen[n.ID()] {
			return
		}
		seen[n.ID()] = true
		for _, d := range n.Dependencies() {
			if d.Shuffle == nil {
				walk(d.Parent)
			}
		}
		visit(n)
	}
	walk(n)
}
