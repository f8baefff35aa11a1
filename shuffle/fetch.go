package shuffle

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"os"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
)

// Fetcher reads shuffle blocks. The engine reads through this interface so
// that a remote fetcher can stand in for local files.
type Fetcher interface {
	// Fetch yields the records of one block in order; the caller releases
	// each record after use.
	Fetch(ctx context.Context, ref BlockRef) iter.Seq2[arrow.Record, error]
}

// BlockRef names the output of one map task for one reduce partition.
type BlockRef struct {
	ShuffleID, MapID, ReduceID int
	// Location is the Flight address of the executor that holds the
	// block, for a RemoteFetcher; a Manager reads its own files and
	// ignores it.
	Location string
}

var _ Fetcher = (*Manager)(nil)

// Fetch yields the records stored for ref by a committed map task. Each
// record is retained for the caller, who must release it. The segment's
// checksum is verified before any record is decoded, so damaged files yield
// an error wrapping ErrCorruptBlock instead of garbage; a missing map output
// yields an error wrapping ErrMissingBlock. Iteration stops after the first
// error, which includes cancellation of ctx.
func (m *Manager) Fetch(ctx context.Context, ref BlockRef) iter.Seq2[arrow.Record, error] {
	return func(yield func(arrow.Record, error) bool) {
		if err := m.fetch(ctx, ref, yield); err != nil {
			yield(nil, fmt.Errorf("shuffle: fetch shuffle %d map %d reduce %d: %w", ref.ShuffleID, ref.MapID, ref.ReduceID, err))
		}
	}
}

// fetch does the work of Fetch, returning its error instead of yielding it.
func (m *Manager) fetch(ctx context.Context, ref BlockRef, yield func(arrow.Record, error) bool) error {
	if err := checkIDs(ref.ShuffleID, ref.MapID, ref.ReduceID); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dataPath, indexPath := m.mapPaths(ref.ShuffleID, ref.MapID)
	x, err := readIndex(indexPath, dataPath)
	if err != nil {
		return err
	}
	if ref.ReduceID >= x.numSegments() {
		return fmt.Errorf("shuffle: reduce partition %d out of range: map output has %d", ref.ReduceID, x.numSegments())
	}
	start, end := x.offsets[ref.ReduceID], x.offsets[ref.ReduceID+1]
	if start == end {
		return nil
	}
	// Open before anything else can replace the files: the handle pins the
	// data the index describes even if the shuffle is removed meanwhile.
	f, err := os.Open(dataPath)
	if err != nil {
		return missing(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("shuffle: %w", err)
	} else if fi.Size() != x.offsets[len(x.offsets)-1] {
		return fmt.Errorf("%w: data file changed size while reading", ErrCorruptBlock)
	}

	// Verifying the checksum takes a second pass over the segment, served
	// from the page cache, but keeps memory bounded and ensures Arrow never
	// decodes damaged bytes.
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(f, start, end-start)); err != nil {
		return fmt.Errorf("shuffle: read segment: %w", err)
	}
	if h.Sum32() != x.checksums[ref.ReduceID] {
		return fmt.Errorf("%w: segment checksum mismatch", ErrCorruptBlock)
	}

	// Buffering turns the reader's small reads of message prefixes into few
	// system calls; the section bounds it to this segment.
	seg := bufio.NewReaderSize(io.NewSectionReader(f, start, end-start), 64<<10)
	rdr, err := ipc.NewReader(seg, ipc.WithAllocator(m.mem))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptBlock, err)
	}
	defer rdr.Release()
	var rows int64
	for rdr.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rdr.Record()
		rows += rec.NumRows()
		// The reader reuses its record on Next; the caller gets its own
		// reference.
		rec.Retain()
		if !yield(rec, nil) {
			return nil
		}
	}
	if err := rdr.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptBlock, err)
	}
	if rows != x.rows[ref.ReduceID] {
		return fmt.Errorf("%w: segment holds %d rows, index expects %d", ErrCorruptBlock, rows, x.rows[ref.ReduceID])
	}
	return nil
}
