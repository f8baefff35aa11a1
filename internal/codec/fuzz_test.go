package codec

import (
	"bytes"
	"math/rand/v2"
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

// FuzzDecode feeds arbitrary bytes through the Arrow IPC reader into Decode
// and Batches, which must reject malformed records with an error, never a
// panic or an out-of-bounds read.
func FuzzDecode(f *testing.F) {
	c, err := For[fuzzRow]()
	if err != nil {
		f.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 3, 20} {
		rec := c.Encode(nil, randomValues[fuzzRow](r, n))
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
		if err := w.Write(rec); err != nil {
			f.Fatal(err)
		}
		w.Close()
		rec.Release()
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})

	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(boundedAllocator{memory.NewGoAllocator()}))
		if err != nil {
			return
		}
		defer rd.Release()
		for rd.Next() {
			rec := rd.Record()
			rows, err := c.Decode(rec, nil)
			if err == nil && len(rows) != int(rec.NumRows()) {
				t.Fatalf("decoded %d rows of %d", len(rows), rec.NumRows())
			}
			n := 0
			for batch, err := range c.Batches(rec, 7) {
				if err != nil {
					break
				}
				n += len(batch)
			}
			if err == nil && n != len(rows) {
				t.Fatalf("batches hold %d rows, Decode %d", n, len(rows))
			}
		}
	})
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
