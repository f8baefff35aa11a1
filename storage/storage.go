// Package storage implements the block manager: the store where cached RDD
// partitions live between the jobs that reuse them.
//
// A block is one cached partition, held as an Arrow schema plus zero or more
// record batches of that schema. A [Manager] keeps blocks in a memory store
// bounded by a byte limit and, for levels that allow it, in a disk store of
// Arrow IPC files. When memory runs short the least-recently-used blocks are
// evicted: blocks that may use disk are spilled there, the others are dropped
// and must be recomputed from lineage by the caller.
package storage

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Level says where a persisted block may live, as in Spark.
type Level struct{ Memory, Disk bool }

// The storage levels a block may be put at.
var (
	None          = Level{}
	MemoryOnly    = Level{Memory: true}
	MemoryAndDisk = Level{Memory: true, Disk: true}
	DiskOnly      = Level{Disk: true}
)

// String returns the Spark name of the level, such as "MEMORY_AND_DISK".
func (l Level) String() string {
	switch l {
	case MemoryOnly:
		return "MEMORY_ONLY"
	case MemoryAndDisk:
		return "MEMORY_AND_DISK"
	case DiskOnly:
		return "DISK_ONLY"
	default:
		return "NONE"
	}
}

// BlockID names a block. RDD blocks are "rdd_<rddID>_<partition>".
type BlockID string

// ErrInvalidBlockID is returned, wrapped, for a block id that is not in the
// canonical form produced by [RDDBlock].
var ErrInvalidBlockID = errors.New("storage: invalid block id")

// ErrClosed is returned by operations on a [Manager] after Close.
var ErrClosed = errors.New("storage: block manager closed")

// ErrBlockLost is wrapped by the error of a Get whose block's file vanished
// or is damaged: the block is removed, and its partition is to be
// recomputed from lineage.
var ErrBlockLost = errors.New("block lost")

const rddPrefix = "rdd_"

// RDDBlock returns the id of partition of the RDD rddID.
func RDDBlock(rddID, partition int) BlockID {
	return BlockID(rddPrefix + strconv.Itoa(rddID) + "_" + strconv.Itoa(partition))
}

// ParseRDDBlock validates id and splits it into its RDD id and partition.
//
// Only the exact form RDDBlock produces is accepted: two non-negative decimal
// numbers without signs or leading zeros. Ids name files in the disk store and
// may come from other hosts, so the strictness is what guarantees that an id
// can never name a path outside the store's directory, and that one block
// cannot be reached under two different names.
func ParseRDDBlock(id BlockID) (rddID, partition int, err error) {
	rest, ok := strings.CutPrefix(string(id), rddPrefix)
	if !ok {
		return 0, 0, fmt.Errorf("%w %q", ErrInvalidBlockID, id)
	}
	r, p, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, 0, fmt.Errorf("%w %q", ErrInvalidBlockID, id)
	}
	if rddID, ok = parseIndex(r); !ok {
		return 0, 0, fmt.Errorf("%w %q: bad RDD id", ErrInvalidBlockID, id)
	}
	if partition, ok = parseIndex(p); !ok {
		return 0, 0, fmt.Errorf("%w %q: bad partition", ErrInvalidBlockID, id)
	}
	return rddID, partition, nil
}

// parseIndex parses a canonical non-negative decimal int: digits only, no
// leading zero unless the number is zero, and no overflow.
func parseIndex(s string) (int, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}
