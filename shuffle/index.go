package shuffle

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// index describes the segments of one map output data file. Its encoding,
// all little-endian, is
//
//	offsets   [n+1]int64   byte offset of each segment, then the file size
//	rows      [n]int64     rows per segment
//	checksums [n]uint32    CRC32-C of each segment's bytes
//	checksum  uint32       CRC32-C of everything above
//
// Keeping the offsets first matches the layout of Spark's index files; the
// rest lets a retried commit report the winning attempt's MapStatus and lets
// a reader detect a damaged segment before decoding it. The number of
// segments n follows from the file size.
type index struct {
	offsets   []int64
	rows      []int64
	checksums []uint32
}

const (
	indexEntrySize   = 8 + 8 + 4 // offset, rows, checksum per segment
	indexFixedSize   = 8 + 4     // the final offset and the trailing checksum
	maxIndexFileSize = 1 << 30   // far above any sane partition count; bounds the read
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// numSegments returns the number of segments described by the index.
func (x *index) numSegments() int { return len(x.rows) }

// status returns the MapStatus the index describes.
func (x *index) status(shuffleID, mapID int) MapStatus {
	sizes := make([]int64, x.numSegments())
	for r := range sizes {
		sizes[r] = x.offsets[r+1] - x.offsets[r]
	}
	return MapStatus{ShuffleID: shuffleID, MapID: mapID, Sizes: sizes, Rows: append([]int64(nil), x.rows...)}
}

// marshal encodes the index.
func (x *index) marshal() []byte {
	n := x.numSegments()
	b := make([]byte, 0, n*indexEntrySize+indexFixedSize)
	for _, off := range x.offsets {
		b = binary.LittleEndian.AppendUint64(b, uint64(off))
	}
	for _, rows := range x.rows {
		b = binary.LittleEndian.AppendUint64(b, uint64(rows))
	}
	for _, sum := range x.checksums {
		b = binary.LittleEndian.AppendUint32(b, sum)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// unmarshalIndex decodes and validates an index. Errors wrap ErrCorruptBlock.
func unmarshalIndex(b []byte) (*index, error) {
	if len(b) < indexFixedSize || (len(b)-indexFixedSize)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: index file has invalid size %d", ErrCorruptBlock, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: index file checksum mismatch", ErrCorruptBlock)
	}
	n := (len(b) - indexFixedSize) / indexEntrySize
	x := &index{
		offsets:   make([]int64, n+1),
		rows:      make([]int64, n),
		checksums: make([]uint32, n),
	}
	for i := range x.offsets {
		x.offsets[i] = int64(binary.LittleEndian.Uint64(body[8*i:]))
	}
	body = body[8*(n+1):]
	for i := range x.rows {
		x.rows[i] = int64(binary.LittleEndian.Uint64(body[8*i:]))
	}
	body = body[8*n:]
	for i := range x.checksums {
		x.checksums[i] = binary.LittleEndian.Uint32(body[4*i:])
	}
	// The checksum guards against damage, not against a buggy writer; these
	// checks keep a bad index from turning into out-of-range reads.
	if x.offsets[0] != 0 {
		return nil, fmt.Errorf("%w: index does not start at offset 0", ErrCorruptBlock)
	}
	for r := range n {
		if x.offsets[r+1] < x.offsets[r] || x.rows[r] < 0 || (x.rows[r] == 0) != (x.offsets[r+1] == x.offsets[r]) {
			return nil, fmt.Errorf("%w: index entry %d is inconsistent", ErrCorruptBlock, r)
		}
	}
	return x, nil
}

// readIndex reads and validates the index file at path, and checks that the
// data file at dataPath has the size the index promises. A missing file is
// reported as an error wrapping ErrMissingBlock.
func readIndex(path, dataPath string) (*index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, missing(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	if fi.Size() > maxIndexFileSize {
		return nil, fmt.Errorf("%w: index file %s too large (%d bytes)", ErrCorruptBlock, path, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("shuffle: read index %s: %w", path, err)
	}
	x, err := unmarshalIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	di, err := os.Stat(dataPath)
	if err != nil {
		return nil, missing(err)
	}
	if want := x.offsets[len(x.offsets)-1]; di.Size() != want {
		return nil, fmt.Errorf("%w: data file %s has %d bytes, index expects %d", ErrCorruptBlock, dataPath, di.Size(), want)
	}
	return x, nil
}

// verify checks every segment of the data file against its checksum. It
// runs when a retried map task commits over an existing output, which is
// kept only if it is intact: a damaged one, found by a reader, must be
// replaced by the recomputed output.
func (x *index) verify(dataPath string) error {
	f, err := os.Open(dataPath)
	if err != nil {
		return missing(err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for r := range x.numSegments() {
		h := crc32.New(castagnoli)
		if _, err := io.CopyN(h, br, x.offsets[r+1]-x.offsets[r]); err != nil {
			return fmt.Errorf("shuffle: verify %s: %w", dataPath, err)
		}
		if h.Sum32() != x.checksums[r] {
			return fmt.Errorf("%w: segment %d of %s", ErrCorruptBlock, r, dataPath)
		}
	}
	return nil
}
