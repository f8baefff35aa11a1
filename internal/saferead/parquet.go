package saferead

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/metadata"
	"github.com/apache/arrow/go/v15/parquet/schema"
	"github.com/apache/thrift/lib/go/thrift"
	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
)

// maxPageHeader is the most bytes a page header may take: far more than
// its statistics need.
const maxPageHeader = 1 << 20

// CheckParquetRowGroup checks, before Arrow's Parquet reader decodes a
// row group of a file of size bytes, what that reader trusts: each column
// chunk lies inside the file, and each page header in it declares a page
// that lies inside its chunk, whose size uncompressed and whose count of
// values fit in limit bytes. The reader decodes nested columns in
// goroutines of its own, where a panic cannot be recovered and an
// allocation over a budget cannot fail; these checks come first so that
// what it is given is consistent. An error wraps ErrDamaged.
func CheckParquetRowGroup(r io.ReaderAt, size int64, md *metadata.FileMetaData, group int, limit int64) error {
	if group < 0 || group >= len(md.GetRowGroups()) {
		return fmt.Errorf("%w: no row group %d", ErrDamaged, group)
	}
	rg := md.RowGroup(group)
	if rows := rg.NumRows(); rows < 0 {
		return fmt.Errorf("%w: row group %d declares %d rows", ErrDamaged, group, rows)
	}
	for i := range rg.NumColumns() {
		col, err := rg.ColumnChunk(i)
		if err != nil {
			return fmt.Errorf("%w: row group %d, column %d: %v", ErrDamaged, group, i, err)
		}
		if err := checkColumnChunk(r, size, col, limit, decodedInGoroutines(md.Schema.Column(i))); err != nil {
			return fmt.Errorf("%w: row group %d, column %s: %v", ErrDamaged, group, col.PathInSchema(), err)
		}
	}
	return nil
}

// checkColumnChunk checks the chunk col and the header of each of its
// pages; with decode, it also decompresses each page, checking that it
// holds what its header declares.
func checkColumnChunk(r io.ReaderAt, size int64, col *metadata.ColumnChunkMetaData, limit int64, decode bool) error {
	if col.CryptoMetadata() != nil {
		return nil // the reader refuses it: Ember gives it no keys
	}
	start := col.DataPageOffset()
	if col.HasDictionaryPage() && col.DictionaryPageOffset() > 0 && start > col.DictionaryPageOffset() {
		start = col.DictionaryPageOffset()
	}
	length, values := col.TotalCompressedSize(), col.NumValues()
	if start < 0 || length < 0 || values < 0 || start > size || length > size-start {
		return fmt.Errorf("declares %d bytes at %d holding %d values, outside the file's %d bytes", length, start, values, size)
	}
	// Old writers left the dictionary page's header out of the chunk's
	// length, and the reader reads a little past it: check up to the
	// file's end, and stop at the chunk's count of values.
	end := size
	var seen int64
	dictionaries := 0
	for at := start; at < end && seen < values; {
		h, n, err := readPageHeader(r, at, end)
		if err != nil {
			return fmt.Errorf("page at %d: %v", at, err)
		}
		if h.dictionary {
			dictionaries++
		}
		switch {
		case h.compressed < 0 || h.uncompressed < 0 || h.values < 0:
			return fmt.Errorf("page at %d declares %d bytes, %d uncompressed, %d values", at, h.compressed, h.uncompressed, h.values)
		case int64(h.compressed) > end-at-n:
			return fmt.Errorf("page at %d declares %d bytes, past the end of the file", at, h.compressed)
		case int64(h.uncompressed) > limit || int64(h.compressed) > limit || int64(h.values) > limit:
			return fmt.Errorf("page at %d declares %d bytes, %d uncompressed and %d values, over the reading budget of %d bytes", at, h.compressed, h.uncompressed, h.values, limit)
		case h.dictionary && (dictionaries > 1 || int64(h.values)*24 > limit):
			// The reader makes a slice of the dictionary's values at
			// once (24 bytes each for byte arrays).
			return fmt.Errorf("page at %d: a dictionary of %d values (the chunk's dictionary %d), over the reading budget of %d bytes", at, h.values, dictionaries, limit)
		}
		if err := checkPage(r, at+n, h, col.Compression(), decode); err != nil {
			return fmt.Errorf("page at %d: %v", at, err)
		}
		if !h.dictionary {
			seen += int64(h.values)
		}
		at += n + int64(h.compressed)
	}
	return nil
}

// Page types, from parquet.thrift.
const (
	pageData       = 0
	pageDictionary = 2
	pageDataV2     = 3
)

// pageHeader is what the reader trusts of a Parquet PageHeader.
type pageHeader struct {
	uncompressed, compressed int32
	values                   int32
	dictionary               bool
	// levels is the length of the uncompressed levels that begin a
	// version 2 data page, and raw says that the rest is not compressed.
	levels int32
	raw    bool
}

// readPageHeader decodes the page header at offset at, no further than
// end, and returns it and its length. It reads 64 KiB, and up to
// maxPageHeader only for a header longer than that (large statistics).
func readPageHeader(r io.ReaderAt, at, end int64) (pageHeader, int64, error) {
	h, n, err := readPageHeaderIn(r, at, min(end-at, 64<<10))
	if err != nil && end-at > 64<<10 {
		h, n, err = readPageHeaderIn(r, at, min(end-at, maxPageHeader))
	}
	return h, n, err
}

func readPageHeaderIn(r io.ReaderAt, at, size int64) (pageHeader, int64, error) {
	buf := make([]byte, size)
	n, err := r.ReadAt(buf, at)
	if err != nil && err != io.EOF {
		return pageHeader{}, 0, err
	}
	mem := &thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(buf[:n])}
	p := thrift.NewTCompactProtocolConf(mem, &thrift.TConfiguration{MaxMessageSize: maxPageHeader})
	var h pageHeader
	kind, subs := int32(-1), 0
	err = readStruct(p, func(id int16, t thrift.TType) error {
		ctx := context.Background()
		var err error
		switch {
		case id == 1 && t == thrift.I32:
			kind, err = p.ReadI32(ctx)
		case id == 2 && t == thrift.I32:
			h.uncompressed, err = p.ReadI32(ctx)
		case id == 3 && t == thrift.I32:
			h.compressed, err = p.ReadI32(ctx)
		case (id == 5 || id == 7 || id == 8) && t == thrift.STRUCT:
			// data_page_header, dictionary_page_header and
			// data_page_header_v2 each count their values first.
			subs++
			h.dictionary = id == 7
			v2 := id == 8
			if want := map[int16]int32{5: pageData, 7: pageDictionary, 8: pageDataV2}[id]; kind != want {
				return fmt.Errorf("a page of type %d with the header of type %d", kind, want)
			}
			err = readStruct(p, func(id int16, t thrift.TType) error {
				switch {
				case id == 1 && t == thrift.I32:
					v, err := p.ReadI32(ctx)
					h.values = v
					return err
				case v2 && (id == 5 || id == 6) && t == thrift.I32: // levels' byte lengths
					v, err := p.ReadI32(ctx)
					if v < 0 || h.levels > math.MaxInt32-v {
						return fmt.Errorf("levels of %d bytes", v)
					}
					h.levels += v
					return err
				case v2 && id == 7 && t == thrift.BOOL: // is_compressed
					c, err := p.ReadBool(ctx)
					h.raw = !c
					return err
				}
				return p.Skip(ctx, t)
			})
		default:
			err = p.Skip(ctx, t)
		}
		return err
	})
	if err != nil {
		return pageHeader{}, 0, fmt.Errorf("unreadable header: %v", err)
	}
	// The reader goes by the type; a page of another type (an index
	// page), it takes its body for the next header.
	if subs != 1 || (kind != pageData && kind != pageDictionary && kind != pageDataV2) {
		return pageHeader{}, 0, fmt.Errorf("a page of type %d with %d headers: Ember reads data and dictionary pages", kind, subs)
	}
	return h, int64(n) - int64(mem.RemainingBytes()), nil
}

// readStruct reads a Thrift struct, calling field for each field.
func readStruct(p thrift.TProtocol, field func(id int16, t thrift.TType) error) error {
	ctx := context.Background()
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return err
	}
	for {
		_, t, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return err
		}
		if t == thrift.STOP {
			break
		}
		if err := field(id, t); err != nil {
			return err
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return err
		}
	}
	return p.ReadStructEnd(ctx)
}

// decodedInGoroutines says whether Arrow's reader decodes column c in
// goroutines of its own: those under a struct (a group that is neither a
// list nor the repeated group of one), which include map entries.
func decodedInGoroutines(c *schema.Column) bool {
	n := c.SchemaNode().Parent()
	for n != nil && n.Parent() != nil { // the root is not a struct
		list := isList(n) || isList(n.Parent())
		if !list {
			return true
		}
		n = n.Parent()
	}
	return false
}

func isList(n schema.Node) bool {
	_, ok := n.LogicalType().(*schema.ListLogicalType)
	return ok || n.ConvertedType() == schema.ConvertedTypes.List
}

// checkPage checks the compressed data of the page that begins at offset
// at against its header. Arrow's codecs allocate what the data says, not
// what the header does: Snappy's declared length and a Zstandard frame's
// declared size must match the header, and a frame without one is
// decompressed here, bounded. With full, any page is decompressed here,
// with no more memory than its header declares, and must hold as many
// bytes as it says.
func checkPage(r io.ReaderAt, at int64, h pageHeader, codec compress.Compression, full bool) error {
	if h.levels > h.compressed || h.levels > h.uncompressed {
		return fmt.Errorf("levels of %d bytes in a page of %d", h.levels, h.compressed)
	}
	if codec == compress.Codecs.Uncompressed || h.raw {
		return nil
	}
	src := make([]byte, h.compressed-h.levels)
	if _, err := r.ReadAt(src, at+int64(h.levels)); err != nil {
		return err
	}
	want := int(h.uncompressed - h.levels)
	if !full {
		switch codec {
		case compress.Codecs.Snappy:
			if n, err := snappy.DecodedLen(src); err != nil || n != want {
				return fmt.Errorf("Snappy data that declares %d bytes (%v), not the %d of its header", n, err, want)
			}
			return nil
		case compress.Codecs.Zstd:
			var zh zstd.Header
			if err := zh.Decode(src); err == nil && zh.HasFCS {
				if zh.FrameContentSize != uint64(want) {
					return fmt.Errorf("a Zstandard frame that declares %d bytes, not the %d of its header", zh.FrameContentSize, want)
				}
				return nil
			}
		default:
			return nil // the others decode into the buffer they are given
		}
	}
	var got int
	var err error
	switch codec {
	case compress.Codecs.Snappy:
		if got, err = snappy.DecodedLen(src); err == nil && got == want {
			_, err = snappy.Decode(make([]byte, want), src)
		}
	case compress.Codecs.Gzip, compress.Codecs.Zstd:
		var zr io.Reader
		if codec == compress.Codecs.Gzip {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			var d *zstd.Decoder
			// The window is the writer's (at least 1 KiB): the output is
			// bounded below, by want.
			if d, err = zstd.NewReader(bytes.NewReader(src), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(64<<20)); err == nil {
				defer d.Close()
				zr = d
			}
		}
		if err == nil {
			var n int64
			n, err = io.Copy(io.Discard, io.LimitReader(zr, int64(want)+1))
			got = int(n)
		}
	default:
		// The others decode into the buffer they are given, no further.
		err = decodeInto(codec, make([]byte, want), src, &got)
	}
	if err != nil {
		return fmt.Errorf("does not decompress (%s): %v", codec, err)
	}
	if got != want {
		return fmt.Errorf("decompresses (%s) to %d bytes, not the %d its header declares", codec, got, want)
	}
	return nil
}

// decodeInto decodes src into dst with Arrow's codec, which panics on
// damaged input: here, in the goroutine that can recover it.
func decodeInto(codec compress.Compression, dst, src []byte, got *int) (err error) {
	c, err := compress.GetCodec(codec)
	if err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	*got = len(c.Decode(dst, src))
	return nil
}

// DecodeNested decodes, and drops, every column of row group g that
// Arrow's reader would decode in goroutines of its own (those under a
// struct or in a map), here in the caller's goroutine, so that a panic
// of a decoder on damaged data is recovered (by Do) before that reader
// meets it where it cannot be. It costs a second decoding of those
// columns; CheckParquetRowGroup must have passed.
func DecodeNested(pf *file.Reader, g int) error {
	rg := pf.RowGroup(g)
	s := pf.MetaData().Schema
	for i := range rg.NumColumns() {
		if !decodedInGoroutines(s.Column(i)) {
			continue
		}
		cr, err := rg.Column(i)
		if err != nil {
			return fmt.Errorf("%w: row group %d, column %s: %v", ErrDamaged, g, s.Column(i).Path(), err)
		}
		if err := drainColumn(cr); err != nil {
			return fmt.Errorf("%w: row group %d, column %s: %v", ErrDamaged, g, s.Column(i).Path(), err)
		}
	}
	return nil
}

// drainBatch is how many values drainColumn decodes at a time.
const drainBatch = 4096

func drainColumn(cr file.ColumnChunkReader) error {
	switch r := cr.(type) {
	case *file.BooleanColumnChunkReader:
		return drain(r, r.ReadBatch, make([]bool, drainBatch))
	case *file.Int32ColumnChunkReader:
		return drain(r, r.ReadBatch, make([]int32, drainBatch))
	case *file.Int64ColumnChunkReader:
		return drain(r, r.ReadBatch, make([]int64, drainBatch))
	case *file.Int96ColumnChunkReader:
		return drain(r, r.ReadBatch, make([]parquet.Int96, drainBatch))
	case *file.Float32ColumnChunkReader:
		return drain(r, r.ReadBatch, make([]float32, drainBatch))
	case *file.Float64ColumnChunkReader:
		return drain(r, r.ReadBatch, make([]float64, drainBatch))
	case *file.ByteArrayColumnChunkReader:
		return drain(r, r.ReadBatch, make([]parquet.ByteArray, drainBatch))
	case *file.FixedLenByteArrayColumnChunkReader:
		return drain(r, r.ReadBatch, make([]parquet.FixedLenByteArray, drainBatch))
	default:
		return fmt.Errorf("a column of physical type %s", cr.Type())
	}
}

func drain[T any](cr file.ColumnChunkReader, read func(int64, []T, []int16, []int16) (int64, int, error), values []T) error {
	def, rep := make([]int16, len(values)), make([]int16, len(values))
	for cr.HasNext() {
		if _, _, err := read(int64(len(values)), values, def, rep); err != nil {
			return err
		}
	}
	return cr.Err()
}
