package codec

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow/memory"
)

// benchRow is a typical record: numbers, a string, a short list and a time.
type benchRow struct {
	ID    int64
	Name  string
	Score float64
	Count int32
	Tags  []string
	When  time.Time
}

func benchRows(n int) ([]benchRow, int64) {
	r := rand.New(rand.NewPCG(1, 1))
	rows := make([]benchRow, n)
	size := int64(0)
	for i := range rows {
		rows[i] = benchRow{
			ID:    int64(i),
			Name:  "name-" + string(rune('a'+r.IntN(26))),
			Score: r.Float64(),
			Count: r.Int32(),
			Tags:  []string{"x", "yz"},
			When:  time.Unix(int64(i), 0),
		}
		size += int64(unsafe.Sizeof(rows[i])) + int64(len(rows[i].Name)) + 3 + 2*16
	}
	return rows, size
}

func TestAppendAllocs(t *testing.T) {
	cf, _ := For[float64]()
	ef := cf.NewEncoder(nil)
	defer ef.Release()
	cs, _ := For[pair[int64, float64]]()
	es := cs.NewEncoder(nil)
	defer es.Release()
	// Builders grow by doubling, so the amortised count rounds to zero.
	if a := testing.AllocsPerRun(10000, func() { ef.Append(1.5) }); a != 0 {
		t.Errorf("Append(float64): %v allocations per row", a)
	}
	if a := testing.AllocsPerRun(10000, func() { es.Append(pair[int64, float64]{1, 2}) }); a != 0 {
		t.Errorf("Append(struct of numbers): %v allocations per row", a)
	}
}

func BenchmarkEncodeFloat64(b *testing.B) {
	values := make([]float64, 1<<16)
	for i := range values {
		values[i] = float64(i)
	}
	c, _ := For[float64]()
	e := c.NewEncoder(memory.DefaultAllocator)
	defer e.Release()
	b.SetBytes(int64(len(values)) * 8)
	for b.Loop() {
		e.Append(values...)
		e.NewRecord().Release()
	}
}

func BenchmarkBatchesFloat64(b *testing.B) {
	values := make([]float64, 1<<20)
	for i := range values {
		values[i] = float64(i)
	}
	c, _ := For[float64]()
	rec := c.Encode(nil, values)
	defer rec.Release()
	b.SetBytes(int64(len(values)) * 8)
	var sum float64
	for b.Loop() {
		for batch, err := range c.Batches(rec, 0) {
			if err != nil {
				b.Fatal(err)
			}
			sum += batch[len(batch)-1]
		}
	}
	_ = sum
}

func BenchmarkEncodeDecodeStruct(b *testing.B) {
	rows, size := benchRows(4096)
	c, _ := For[benchRow]()
	e := c.NewEncoder(nil)
	defer e.Release()
	dst := make([]benchRow, 0, len(rows))
	b.SetBytes(size)
	for b.Loop() {
		e.Append(rows...)
		rec := e.NewRecord()
		var err error
		dst, err = c.Decode(rec, dst[:0])
		rec.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStructNumbers(b *testing.B) {
	rows := make([]pair[int64, float64], 1<<16)
	for i := range rows {
		rows[i] = pair[int64, float64]{int64(i), float64(i)}
	}
	c, _ := For[pair[int64, float64]]()
	e := c.NewEncoder(nil)
	defer e.Release()
	b.SetBytes(int64(len(rows)) * 16)
	for b.Loop() {
		e.Append(rows...)
		e.NewRecord().Release()
	}
}

func BenchmarkHasher(b *testing.B) {
	hi, _ := Hasher[int64]()
	hs, _ := Hasher[string]()
	hp, _ := Hasher[pair[string, int64]]()
	b.Run("int64", func(b *testing.B) {
		for i := range b.N {
			hi(int64(i))
		}
	})
	b.Run("string", func(b *testing.B) {
		for b.Loop() {
			hs("some-partition-key")
		}
	})
	b.Run("pair", func(b *testing.B) {
		for i := range b.N {
			hp(pair[string, int64]{"some-partition-key", int64(i)})
		}
	})
}
