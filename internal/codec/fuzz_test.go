package codec

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// fuzzRow exercises every reader: numbers, bools, strings, bytes, times,
// pointers, lists, arrays, maps and nested structs.
type fuzzRow struct {
	ID    int64
	Name  string
	Blob  []byte
	Score *float64
	Flag  bool
	Tags  []string
	Attrs map[string]int32
	When  time.Time
	Pos   [2]int16
	Inner struct {
		A uint8
		B []pair[string, *int64]
	}
}

// FuzzDecode feeds arbitrary record batches through the Arrow IPC reader
// into Decode and Batches, which must reject malformed records with an
// error, never a panic or an out-of-bounds read.
//
// The input is one record batch message: a 2-byte little-endian length, the
// flatbuffer metadata of that length, and the body. The harness frames it
// after the codec's own schema message. Fixing the schema and the framing
// keeps the fuzzer on what Decode sees (node lengths, null counts, buffer
// offsets, and the buffers themselves) and away from allocations sized by
// corrupt schema or frame lengths, which the IPC reader does before anything
// here runs.
func FuzzDecode(f *testing.F) {
	c, err := For[fuzzRow]()
	if err != nil {
		f.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	var prefix []byte
	for i, n := range []int{0, 1, 3, 20} {
		values := randomValues[fuzzRow](r, n)
		stream := encodeStream(f, c, values)
		schemaLen, batch := splitStream(f, stream)
		if i == 0 {
			prefix = stream[:schemaLen]
		}
		// The seeds must make it through the harness intact.
		rd, err := ipc.NewReader(frame(prefix, batch))
		if err != nil || !rd.Next() {
			f.Fatalf("seed %d does not read back: %v", i, err)
		}
		got, err := c.Decode(rd.Record(), nil)
		if err != nil {
			f.Fatal(err)
		}
		compare(f, values, got)
		rd.Release()
		f.Add(batch)
	}
	f.Add([]byte{})
	f.Add([]byte{8, 0, 1, 2, 3, 4, 5, 6, 7, 8})

	f.Fuzz(func(t *testing.T, data []byte) {
		// The fuzzer does not time inputs out: a hang must crash, so that
		// it keeps the input.
		hang := time.AfterFunc(10*time.Second, func() { panic("decoding hangs") })
		defer hang.Stop()
		stream := frame(prefix, data)
		if stream == nil {
			return
		}
		rd, err := ipc.NewReader(stream, ipc.WithAllocator(boundedAllocator{memory.NewGoAllocator()}))
		if err != nil {
			t.Fatalf("the schema message no longer reads: %v", err)
		}
		defer rd.Release()
		for rd.Next() {
			rec := rd.Record()
			rows, err := c.Decode(rec, nil)
			if err == nil && len(rows) != int(rec.NumRows()) {
				t.Fatalf("decoded %d rows of %d", len(rows), rec.NumRows())
			}
			got := 0
			for batch, err := range c.Batches(rec, 7) {
				if err != nil {
					break
				}
				got += len(batch)
			}
			if err == nil && got != len(rows) {
				t.Fatalf("batches hold %d rows, Decode %d", got, len(rows))
			}
		}
	})
}

// frame returns the IPC stream of the schema message prefix followed by
// the record batch message of a fuzz input, or nil if the input is too short
// for its metadata length.
func frame(prefix, data []byte) *bytes.Buffer {
	if len(data) < 2 {
		return nil
	}
	n := int(binary.LittleEndian.Uint16(data))
	data = data[2:]
	if n > len(data) {
		return nil
	}
	stream := bytes.NewBuffer(slices.Clip(prefix))
	stream.Write([]byte{0xff, 0xff, 0xff, 0xff})
	stream.Write(binary.LittleEndian.AppendUint32(nil, uint32(n)))
	stream.Write(data)
	stream.Write([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}) // end of stream
	return stream
}

// encodeStream returns values as an Arrow IPC stream of one record batch.
func encodeStream[T any](tb testing.TB, c *Codec[T], values []T) []byte {
	rec := c.Encode(nil, values)
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// splitStream splits an IPC stream of one record batch into the length of
// its schema message and the fuzz input for its record batch message.
func splitStream(tb testing.TB, stream []byte) (int, []byte) {
	const frame = 8 // continuation marker and metadata length
	schemaLen := frame + int(binary.LittleEndian.Uint32(stream[4:]))
	msg := stream[schemaLen:]
	n := int(binary.LittleEndian.Uint32(msg[4:]))
	rest := msg[frame : len(msg)-8] // metadata and body, before the end marker
	if n > len(rest) || n > 0xffff {
		tb.Fatalf("unexpected stream layout")
	}
	return schemaLen, append(binary.LittleEndian.AppendUint16(nil, uint16(n)), rest...)
}

// boundedAllocator refuses the huge buffers a corrupt length field asks
// for, so that fuzzing explores decoding rather than exhausting memory. The
// IPC reader turns its panic into an error.
type boundedAllocator struct{ memory.Allocator }

const maxFuzzAlloc = 16 << 20

func (a boundedAllocator) Allocate(size int) []byte {
	if size > maxFuzzAlloc {
		panic("allocation too large")
	}
	return a.Allocator.Allocate(size)
}

func (a boundedAllocator) Reallocate(size int, b []byte) []byte {
	if size > maxFuzzAlloc {
		panic("allocation too large")
	}
	return a.Allocator.Reallocate(size, b)
}
