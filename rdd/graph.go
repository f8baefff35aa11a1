package rdd

import (
	"fmt"
	"slices"

	"github.com/ember-go/ember/internal/rpc"
)

// lineageGraph lists the RDDs of the lineage ending in final, final
// first, each once, in the order a walk of the dependencies meets them:
// what a job's description carries so that an executor can check that it
// rebuilt the same graph.
func lineageGraph(final *vertex) []*rpc.GraphNode {
	var out []*rpc.GraphNode
	seen := map[int]bool{}
	var walk func(n *node)
	walk = func(n *node) {
		if seen[n.id] {
			return
		}
		seen[n.id] = true
		g := &rpc.GraphNode{Id: int64(n.id), Op: n.op, Site: n.site, Partitions: int32(n.nparts)}
		for _, d := range n.deps {
			if d.Shuffle != nil {
				g.Shuffles = append(g.Shuffles, int64(d.Shuffle.ID))
			}
			g.Parents = append(g.Parents, int64(d.Parent.ID()))
		}
		out = append(out, g)
		for _, d := range n.deps {
			walk(nodeOf(d.Parent))
		}
	}
	walk((*node)(final))
	return out
}

// checkGraph compares the graph an executor rebuilt with the driver's: a
// pipeline that builds another graph on an executor (it read state that
// main set on the driver alone) must fail, never compute another answer.
// The error names the first RDD that differs in what it is; failing that,
// the first that reads other RDDs.
func checkGraph(pipeline string, job int, driver []*rpc.GraphNode, rebuilt *vertex) error {
	if len(driver) == 0 {
		return nil // a job described without its graph
	}
	mine := lineageGraph(rebuilt)
	for _, differ := range []func(d, m *rpc.GraphNode) string{nodeDifference, dependencyDifference} {
		for i := range max(len(driver), len(mine)) {
			d, m := at(driver, i), at(mine, i)
			if what := differ(d, m); what != "" {
				return fmt.Errorf("pipeline %s built another graph for its job %d on the executor than on the driver: "+
					"the driver's %s; the executor's %s: %s. A pipeline must build the same RDDs from its argument in every process: "+
					"it may not depend on state that main sets (flags, package variables filled after rdd.Init); pass such state in the pipeline's argument",
					pipeline, job, describeNode(d), describeNode(m), what)
			}
		}
	}
	return nil
}

func at(g []*rpc.GraphNode, i int) *rpc.GraphNode {
	if i < len(g) {
		return g[i]
	}
	return nil
}

// nodeDifference says how two RDDs differ in what they are, or "".
func nodeDifference(d, m *rpc.GraphNode) string {
	switch {
	case d == nil || m == nil:
		return "the graphs have different numbers of RDDs"
	case d.Op != m.Op:
		return "the operations differ"
	case d.Site != m.Site:
		return "the creation sites differ"
	case d.Partitions != m.Partitions:
		return "the partition counts differ"
	case !slices.Equal(d.Shuffles, m.Shuffles):
		return "they read other shuffles"
	}
	return ""
}

// dependencyDifference says whether two RDDs read other RDDs, or "".
func dependencyDifference(d, m *rpc.GraphNode) string {
	if d.Id != m.Id || !slices.Equal(d.Parents, m.Parents) {
		return "they read other RDDs"
	}
	return ""
}

func describeNode(n *rpc.GraphNode) string {
	if n == nil {
		return "graph has no such RDD"
	}
	return fmt.Sprintf("RDD %d is %s at %s, of %d partitions", n.Id, n.Op, n.Site, n.Partitions)
}
