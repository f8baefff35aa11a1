package rdd

import (
	"fmt"
	"strings"

	"github.com/ember-go/ember/storage"
)

// Lineage describes the RDD and its ancestors as a tree, like Spark's
// toDebugString: one line per RDD with its partition count, operation, id
// and creation site; "+-" opens a new stage at a shuffle, and persisted RDDs
// show their storage level.
//
//	(4) ReduceByKey [5] at main.go:30 []
//	 +-(8) Map [4] at main.go:29 []
//	    |  TextFile [3] at main.go:28 [MEMORY_ONLY]
func (r *RDD[T]) Lineage() string {
	var b strings.Builder
	writeLineage(&b, &r.node, "", true)
	return b.String()
}

func writeLineage(b *strings.Builder, n *node, indent string, stageStart bool) {
	level := n.storageLevel()
	mark := ""
	if level != storage.None {
		mark = level.String()
	}
	if stageStart {
		fmt.Fprintf(b, "(%d) %s [%s]\n", n.NumPartitions(), n, mark)
	} else {
		fmt.Fprintf(b, "%s [%s]\n", n, mark)
	}
	for _, d := range n.deps {
		if d.Shuffle != nil {
			b.WriteString(indent + " +-")
			writeLineage(b, nodeOf(d.Parent), indent+"   ", true)
		} else {
			b.WriteString(indent + " |  ")
			writeLineage(b, nodeOf(d.Parent), indent, false)
		}
	}
}
