package codec

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

type Celsius float64

type level int8

type label string

type raw []byte

// allKinds has a field of every supported kind.
type allKinds struct {
	B     bool
	I8    int8
	I16   int16
	I32   int32
	I64   int64
	I     int
	U8    uint8
	U16   uint16
	U32   uint32
	U64   uint64
	U     uint
	F32   float32
	F64   float64
	S     string
	Bs    []byte
	T     time.Time
	C     Celsius
	Lv    level
	Lb    label
	Raw   raw
	PI    *int64
	PS    *string
	PT    *time.Time
	PB    *bool
	L     []int32
	LS    []string
	A     [3]int16
	AB    [4]byte
	M     map[string]float64
	Inner struct {
		X int16
		Y *float32
	}
	Skip   chan int `ember:"-"`
	Cache  string   `ember:"-"`
	hidden int      `ember:"-"`
}

// customer is a deep structure mixing lists of structs, maps, pointers,
// arrays and times.
type customer struct {
	Name    string
	Orders  []order
	Best    *order
	Address struct {
		Street string
		Zip    uint32
		Geo    [2]float64
	}
	ByID    map[int64]order
	Stock   map[string]*item
	Grid    [][]int8
	Matrix  [2][]uint16
	Seen    []time.Time
	Raw     []byte
	Created time.Time
}

type order struct {
	ID    int64
	Items []item
	Notes map[string][]string
	Due   *time.Time
	Tags  [2]string
}

type item struct {
	SKU   string
	Qty   int32
	Price *float64
	Attrs map[int32]bool
}

type pair[K, V any] struct {
	Key   K
	Value V
}

func TestRoundTripKinds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 5000} {
		roundTrip(t, randomValues[allKinds](r, n), 1000)
	}
}

func TestRoundTripDeep(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 600} {
		roundTrip(t, randomValues[customer](r, n), 128)
	}
}

func TestRoundTripTopLevel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 3000} {
		roundTrip(t, randomValues[bool](r, n), 1024)
		roundTrip(t, randomValues[int8](r, n), 1024)
		roundTrip(t, randomValues[int](r, n), 1024)
		roundTrip(t, randomValues[uint](r, n), 1024)
		roundTrip(t, randomValues[uint16](r, n), 1024)
		roundTrip(t, randomValues[float32](r, n), 1024)
		roundTrip(t, randomValues[float64](r, n), 1024)
		roundTrip(t, randomValues[Celsius](r, n), 1024)
		roundTrip(t, randomValues[string](r, n), 1024)
		roundTrip(t, randomValues[[]byte](r, n), 1024)
		roundTrip(t, randomValues[time.Time](r, n), 1024)
		roundTrip(t, randomValues[*int32](r, n), 1024)
		roundTrip(t, randomValues[*item](r, n), 1024)
		roundTrip(t, randomValues[[]string](r, n), 1024)
		roundTrip(t, randomValues[[3]float64](r, n), 1024)
		roundTrip(t, randomValues[map[string]int](r, n), 1024)
		roundTrip(t, randomValues[map[int16][]*string](r, n), 1024)
		roundTrip(t, randomValues[map[pair[int32, string]][]float64](r, n), 1024)
		roundTrip(t, randomValues[[2]pair[string, *int64]](r, n), 1024)
		roundTrip(t, randomValues[struct{}](r, n), 1024)
	}
}

func TestRoundTripPair(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 9000} {
		roundTrip(t, randomValues[pair[string, int64]](r, n), 0)
		roundTrip(t, randomValues[pair[string, pair[int64, float64]]](r, n), 0)
		roundTrip(t, randomValues[pair[int64, []string]](r, n), 0)
		roundTrip(t, randomValues[pair[pair[int32, string], *customer]](r, n/10), 0)
	}
	c, err := For[pair[string, pair[int64, float64]]]()
	if err != nil {
		t.Fatal(err)
	}
	want := "schema:\n  fields: 2\n    - Key: type=utf8\n    - Value: type=struct<Key: int64, Value: float64>"
	if got := c.Schema().String(); got != want {
		t.Errorf("schema:\n%s\nwant:\n%s", got, want)
	}
}

func TestSpecialValues(t *testing.T) {
	// -0, infinities, NaN and extreme integers survive bit for bit.
	floats := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, math.SmallestNonzeroFloat64}
	c, _ := For[pair[float64, int64]]()
	var in []pair[float64, int64]
	for i, f := range floats {
		in = append(in, pair[float64, int64]{f, []int64{math.MinInt64, math.MaxInt64, 0, -1, 1, 2, 3}[i]})
	}
	rec := c.Encode(nil, in)
	defer rec.Release()
	out, err := c.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if math.Float64bits(in[i].Key) != math.Float64bits(out[i].Key) || in[i].Value != out[i].Value {
			t.Errorf("row %d: got %v, want %v", i, out[i], in[i])
		}
	}
}

func TestTimes(t *testing.T) {
	c, err := For[time.Time]()
	if err != nil {
		t.Fatal(err)
	}
	zone := time.FixedZone("X", 5*3600)
	in := []time.Time{
		{},
		time.Date(2024, 2, 29, 13, 14, 15, 123456789, zone),
		time.Now(), // with a monotonic clock reading
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	rec := c.Encode(nil, in)
	defer rec.Release()
	out, err := c.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != (time.Time{}) {
		t.Errorf("zero time decoded as %v", out[0])
	}
	for i := 1; i < 3; i++ {
		if !out[i].Equal(in[i]) || out[i].Location() != time.UTC {
			t.Errorf("row %d: got %v, want %v in UTC", i, out[i], in[i])
		}
	}
	if out[3] != minTime.UTC() || out[4] != maxTime.UTC() {
		t.Errorf("out of range times decoded as %v and %v, want them clamped", out[3], out[4])
	}
}

func TestNilAndEmpty(t *testing.T) {
	type holder struct {
		S  []int64
		B  []byte
		M  map[string]int
		P  *[]int64
		Ss []string
	}
	c, err := For[holder]()
	if err != nil {
		t.Fatal(err)
	}
	in := []holder{{}, {S: []int64{}, B: []byte{}, M: map[string]int{}, P: &[]int64{}, Ss: []string{""}}}
	rec := c.Encode(nil, in)
	defer rec.Release()
	out, err := c.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range out {
		if h.S == nil || len(h.S) != 0 || h.B == nil || len(h.B) != 0 || h.M == nil || len(h.M) != 0 {
			t.Errorf("row %d: %#v, want empty non-nil slices and maps", i, h)
		}
	}
	if out[0].P != nil || out[1].P == nil || *out[1].P == nil || len(*out[1].P) != 0 {
		t.Errorf("pointers: got %v and %v, want nil and pointer to empty", out[0].P, out[1].P)
	}
	if len(out[1].Ss) != 1 || out[1].Ss[0] != "" {
		t.Errorf("list of empty string decoded as %q", out[1].Ss)
	}
}

func TestDecodeCopies(t *testing.T) {
	// Strings and bytes must survive the release of their record.
	type row struct {
		S string
		B []byte
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	c, _ := For[row]()
	rec := c.Encode(mem, []row{{"hello", []byte("world")}})
	out, err := c.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	col := rec.Column(1).(*array.Binary).ValueBytes()
	rec.Release()
	mem.AssertSize(t, 0)
	if unsafe.SliceData(out[0].B) == unsafe.SliceData(col) {
		t.Error("decoded bytes alias the record")
	}
	if out[0].S != "hello" || string(out[0].B) != "world" {
		t.Errorf("got %q", out)
	}
}

func TestDecodeAppends(t *testing.T) {
	c, _ := For[pair[string, int]]()
	rec := c.Encode(nil, []pair[string, int]{{"b", 2}, {"c", 3}})
	defer rec.Release()
	dst := make([]pair[string, int], 1, 8)
	dst[0] = pair[string, int]{"a", 1}
	dst, err := c.Decode(rec, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := []pair[string, int]{{"a", 1}, {"b", 2}, {"c", 3}}
	if !reflect.DeepEqual(dst, want) {
		t.Errorf("got %v, want %v", dst, want)
	}
}

func TestEncoder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(9, 10))
	values := randomValues[customer](r, 300)
	c, _ := For[customer]()
	e := c.NewEncoder(mem)
	defer e.Release()
	for _, rows := range [][]customer{values[:100], values[100:]} {
		for i := range 10 {
			e.Append(rows[i]) // one by one
		}
		e.Append(rows[10:50]...)
		e.Append()
		e.Append(rows[50:]...)
		if e.Len() != len(rows) {
			t.Fatalf("Len = %d, want %d", e.Len(), len(rows))
		}
		rec := e.NewRecord()
		if e.Len() != 0 {
			t.Errorf("Len after NewRecord = %d", e.Len())
		}
		got, err := c.Decode(rec, nil)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		compare(t, rows, got)
	}
	rec := e.NewRecord()
	if rec.NumRows() != 0 {
		t.Errorf("empty record has %d rows", rec.NumRows())
	}
	rec.Release()
}

func TestZeroCopy(t *testing.T) {
	floats := make([]float64, 10000)
	for i := range floats {
		floats[i] = float64(i) / 3
	}
	c, err := For[float64]()
	if err != nil {
		t.Fatal(err)
	}
	if !c.ZeroCopy() {
		t.Fatal("ZeroCopy() = false for float64")
	}
	rec := c.Encode(nil, floats)
	defer rec.Release()
	vals := rec.Column(0).(*array.Float64).Float64Values()
	checkViews(t, c, rec, vals, floats)

	ints := make([]int64, 5000)
	for i := range ints {
		ints[i] = int64(i) * -7
	}
	ci, _ := For[int64]()
	reci := ci.Encode(nil, ints)
	defer reci.Release()
	checkViews(t, ci, reci, reci.Column(0).(*array.Int64).Int64Values(), ints)

	// A named type over the primitive views the same buffer.
	cc, _ := For[Celsius]()
	if !cc.ZeroCopy() {
		t.Error("ZeroCopy() = false for Celsius")
	}
	checkViews(t, cc, rec, vals, *(*[]Celsius)(unsafe.Pointer(&floats)))

	for name, zc := range map[string]bool{
		"struct": mustCodec[pair[float64, float64]](t).ZeroCopy(),
		"bool":   mustCodec[bool](t).ZeroCopy(),
		"string": mustCodec[string](t).ZeroCopy(),
		"*int":   mustCodec[*int64](t).ZeroCopy(),
	} {
		if zc {
			t.Errorf("ZeroCopy() = true for %s", name)
		}
	}
}

// checkViews checks that the batches of rec alias vals and hold want.
func checkViews[T, A comparable](t *testing.T, c *Codec[T], rec arrow.Record, vals []A, want []T) {
	t.Helper()
	start := 0
	for batch, err := range c.Batches(rec, 1000) {
		if err != nil {
			t.Fatal(err)
		}
		if unsafe.Pointer(&batch[0]) != unsafe.Pointer(&vals[start]) {
			t.Fatalf("batch at row %d is a copy, want a view of the Arrow buffer", start)
		}
		if cap(batch) != len(batch) {
			t.Errorf("batch at row %d has spare capacity %d", start, cap(batch)-len(batch))
		}
		for i, v := range batch {
			if v != want[start+i] {
				t.Fatalf("row %d = %v, want %v", start+i, v, want[start+i])
			}
		}
		start += len(batch)
	}
	if start != len(want) {
		t.Errorf("batches hold %d rows, want %d", start, len(want))
	}
}

func TestBatchesNulls(t *testing.T) {
	// A column with nulls cannot be viewed: nulls decode as zero.
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.AppendValues([]float64{1, 2}, nil)
	b.AppendNull()
	b.Append(4)
	arr := b.NewArray()
	b.Release()
	c, _ := For[float64]()
	schema := arrow.NewSchema([]arrow.Field{{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{arr}, 4)
	arr.Release()
	defer rec.Release()
	var got []float64
	for batch, err := range c.Batches(rec, 3) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, batch...)
	}
	if want := []float64{1, 2, 0, 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	// Through a pointer, the null is nil.
	cp, _ := For[*float64]()
	ptrs, err := cp.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ptrs[2] != nil || ptrs[3] == nil || *ptrs[3] != 4 {
		t.Errorf("got %v", ptrs)
	}
}

func TestBatchesStop(t *testing.T) {
	for _, values := range [][]int32{make([]int32, 100)} {
		c, _ := For[int32]()
		rec := c.Encode(nil, values)
		n := 0
		for range c.Batches(rec, 10) {
			n++
			if n == 3 {
				break
			}
		}
		rec.Release()
		if n != 3 {
			t.Errorf("iterated %d batches after break", n)
		}
	}
	c, _ := For[string]()
	rec := c.Encode(nil, make([]string, 100))
	defer rec.Release()
	n := 0
	for range c.Batches(rec, 10) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("iterated %d batches after break", n)
	}
}

func TestSchemaMismatch(t *testing.T) {
	c, _ := For[pair[string, int64]]()
	other, _ := For[pair[string, int32]]()
	rec := other.Encode(nil, []pair[string, int32]{{"a", 1}})
	defer rec.Release()
	if _, err := c.Decode(rec, nil); err == nil || !strings.Contains(err.Error(), `column "Value"`) {
		t.Errorf("Decode: err = %v, want a column type mismatch", err)
	}
	errs := 0
	for batch, err := range c.Batches(rec, 0) {
		if err == nil || batch != nil {
			t.Fatalf("Batches yielded %v, %v", batch, err)
		}
		errs++
	}
	if errs != 1 {
		t.Errorf("Batches yielded %d errors, want 1", errs)
	}
	named, _ := For[struct{ Key, Other string }]()
	rec2 := named.Encode(nil, []struct{ Key, Other string }{{"a", "b"}})
	defer rec2.Release()
	if _, err := c.Decode(rec2, nil); err == nil {
		t.Error("Decode of a record with other column names succeeded")
	}
}

func TestArrayLength(t *testing.T) {
	// A list whose length differs from the array's is an error.
	c, _ := For[[3]int16]()
	// Other producers make list elements nullable; that is accepted.
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int16)
	vb := lb.ValueBuilder().(*array.Int16Builder)
	lb.Append(true)
	vb.AppendValues([]int16{1, 2, 3}, nil)
	lb.Append(true)
	vb.AppendValues([]int16{1, 2}, nil)
	arr := lb.NewArray()
	lb.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "value", Type: arr.DataType()}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{arr}, 2)
	arr.Release()
	defer rec.Release()
	if _, err := c.Decode(rec, nil); err == nil || !strings.Contains(err.Error(), "row 1 has 2 elements, want 3") {
		t.Errorf("err = %v, want a length error", err)
	}
}

func TestUnsupported(t *testing.T) {
	type notify struct {
		ID     int
		Notify chan int
	}
	type badCustomer struct {
		Name   string
		Orders []notify
	}
	type withFunc struct{ F func() }
	type withAny struct{ V any }
	type withIface struct{ E error }
	type withComplex struct {
		In struct{ C complex64 }
	}
	type withComplex128 struct{ C map[string]complex128 }
	type withUintptr struct{ U [2]uintptr }
	type withUnsafe struct{ P unsafe.Pointer }
	type withHidden struct {
		Name   string
		secret int
	}
	type withPtrPtr struct{ P **int }
	type withPtrKey struct{ M map[*int]int }
	type recursive struct {
		Name     string
		Children []recursive
	}
	type viaPointer struct {
		Next *viaPointer
	}
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{errOf[badCustomer](), []string{"chan int", "at field Orders.Notify", "(of codec.badCustomer)"}},
		{errOf[withFunc](), []string{"func()", "at field F"}},
		{errOf[withAny](), []string{"interface {}", "at field V"}},
		{errOf[withIface](), []string{"error", "at field E"}},
		{errOf[withComplex](), []string{"complex64", "at field In.C"}},
		{errOf[withComplex128](), []string{"complex128", "at field C"}},
		{errOf[withUintptr](), []string{"uintptr", "at field U"}},
		{errOf[withUnsafe](), []string{"unsafe.Pointer", "at field P"}},
		{errOf[withHidden](), []string{"int", "at field secret", "unexported"}},
		{errOf[withPtrPtr](), []string{"**int", "at field P", "pointer to pointer"}},
		{errOf[withPtrKey](), []string{"map[*int]int", "at field M"}},
		{errOf[recursive](), []string{"codec.recursive", "at field Children", "recursive"}},
		{errOf[viaPointer](), []string{"codec.viaPointer at field Next (of codec.viaPointer): recursive type"}},
		{errOf[chan int](), []string{"codec: unsupported type chan int"}},
		{errOf[[]func()](), []string{"func()", "(of []func())"}},
		{errOf[any](), []string{"interface {}"}},
	} {
		if !errors.Is(tc.err, ErrUnsupported) {
			t.Errorf("error %v does not wrap ErrUnsupported", tc.err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(tc.err.Error(), w) {
				t.Errorf("error %q does not mention %q", tc.err, w)
			}
		}
	}
	// Errors are cached like codecs.
	if errOf[badCustomer]().Error() != errOf[badCustomer]().Error() {
		t.Error("second For gave another error")
	}
}

func TestConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	values := randomValues[order](r, 500)
	c, _ := For[order]()
	rec := c.Encode(nil, values)
	defer rec.Release()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c2, err := For[order]()
			if err != nil || c2 != c {
				t.Error("For returned another codec")
			}
			got, err := c.Decode(rec, nil)
			if err != nil {
				t.Error(err)
				return
			}
			compare(t, values, got)
			re := c.Encode(nil, got)
			re.Release()
		})
	}
	wg.Wait()
}

func mustCodec[T any](t *testing.T) *Codec[T] {
	t.Helper()
	c, err := For[T]()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func errOf[T any]() error {
	_, err := For[T]()
	return err
}

// roundTrip encodes values, decodes them back every way there is, and
// checks that nothing changed and no Arrow memory leaked.
func roundTrip[T any](t *testing.T, values []T, batchSize int) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	c, err := For[T]()
	if err != nil {
		t.Fatal(err)
	}
	rec := c.Encode(mem, values)
	defer rec.Release()
	if int(rec.NumRows()) != len(values) {
		t.Fatalf("%T: record has %d rows, want %d", values, rec.NumRows(), len(values))
	}
	if !rec.Schema().Equal(c.Schema()) {
		t.Fatalf("%T: record schema %v, want %v", values, rec.Schema(), c.Schema())
	}
	got, err := c.Decode(rec, nil)
	if err != nil {
		t.Fatalf("%T: Decode: %v", values, err)
	}
	compare(t, values, got)

	got = got[:0]
	size := batchSize
	if size <= 0 {
		size = defaultBatchSize
	}
	batches := 0
	for batch, err := range c.Batches(rec, batchSize) {
		if err != nil {
			t.Fatalf("%T: Batches: %v", values, err)
		}
		if len(batch) == 0 || len(batch) > size {
			t.Fatalf("%T: batch of %d rows, want 1 to %d", values, len(batch), size)
		}
		got = append(got, batch...)
		batches++
	}
	if want := (len(values) + size - 1) / size; batches != want {
		t.Errorf("%T: %d batches, want %d", values, batches, want)
	}
	compare(t, values, got)

	// Through IPC, the record is rebuilt from bytes by another producer.
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rd, err := ipc.NewReader(&buf, ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Next() {
		t.Fatalf("%T: no record read back: %v", values, rd.Err())
	}
	got, err = c.Decode(rd.Record(), nil)
	if err != nil {
		t.Fatalf("%T: Decode after IPC: %v", values, err)
	}
	compare(t, values, got)
}

// compare checks that got holds want, up to the normalisations the package
// documents.
func compare[T any](t testing.TB, want, got []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%T: %d rows, want %d", want, len(got), len(want))
	}
	for i := range want {
		w, g := normalize(reflect.ValueOf(want[i])), normalize(reflect.ValueOf(got[i]))
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			t.Fatalf("%T: row %d:\n got %#v\nwant %#v", want, i, got[i], want[i])
		}
	}
}

var timeOf = reflect.TypeFor[time.Time]()

// normalize returns a deep copy of v with the differences a round trip is
// documented to make taken out: nil slices and maps become empty, times are
// in UTC without a monotonic reading, and fields tagged `ember:"-"` are zero.
func normalize(v reflect.Value) reflect.Value {
	t := v.Type()
	if t == timeOf {
		return reflect.ValueOf(v.Interface().(time.Time).Round(0).UTC())
	}
	switch t.Kind() {
	case reflect.Slice:
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), normalize(it.Value()))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(t.Elem())
		out.Elem().Set(normalize(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(t).Elem()
		for i := range t.NumField() {
			if t.Field(i).Tag.Get("ember") != "-" {
				out.Field(i).Set(normalize(v.Field(i)))
			}
		}
		return out
	}
	return v
}

// randomValues returns n random values of T.
func randomValues[T any](r *rand.Rand, n int) []T {
	values := make([]T, n)
	for i := range values {
		fill(r, reflect.ValueOf(&values[i]).Elem(), 0)
	}
	return values
}

// fill sets v to a random value, favouring edge cases: zero values, nil and
// empty slices and maps, empty strings, extreme numbers. depth bounds the
// size of nested containers.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	t := v.Type()
	if t == timeOf {
		var tm time.Time
		switch r.IntN(5) {
		case 0: // the zero Time
		case 1:
			tm = time.Unix(r.Int64N(1e10)-5e9, r.Int64N(1e9)).In(time.FixedZone("Z", 3600*(r.IntN(24)-12)))
		default:
			tm = time.Unix(r.Int64N(1e10)-5e9, r.Int64N(1e9))
		}
		v.Set(reflect.ValueOf(tm))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		switch r.IntN(6) {
		case 0:
			v.SetInt(0)
		case 1:
			v.SetInt(-1 << (bits - 1))
		case 2:
			v.SetInt(1<<(bits-1) - 1)
		default:
			v.SetInt(int64(r.Uint64()) >> (64 - bits))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := t.Bits()
		switch r.IntN(5) {
		case 0:
			v.SetUint(0)
		case 1:
			v.SetUint(1<<bits - 1)
		default:
			v.SetUint(r.Uint64() >> (64 - bits))
		}
	case reflect.Float32, reflect.Float64:
		switch r.IntN(8) {
		case 0:
			v.SetFloat(0)
		case 1:
			v.SetFloat(math.Copysign(0, -1))
		case 2:
			v.SetFloat(math.Inf(1 - 2*r.IntN(2)))
		default:
			v.SetFloat(r.NormFloat64() * 1e6)
		}
	case reflect.String:
		const alphabet = "abcxyzé世界 \x00"
		runes := []rune(alphabet)
		var b strings.Builder
		for range r.IntN(8) {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		v.SetString(b.String())
	case reflect.Slice:
		switch k := r.IntN(6); {
		case k == 0:
			v.SetZero() // nil
		case k == 1 || depth > 3:
			v.Set(reflect.MakeSlice(t, 0, 0))
		default:
			n := 1 + r.IntN(4)
			v.Set(reflect.MakeSlice(t, n, n))
			for i := range n {
				fill(r, v.Index(i), depth+1)
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(r, v.Index(i), depth+1)
		}
	case reflect.Map:
		switch k := r.IntN(5); {
		case k == 0:
			v.SetZero()
		case k == 1 || depth > 3:
			v.Set(reflect.MakeMap(t))
		default:
			m := reflect.MakeMap(t)
			for range 1 + r.IntN(3) {
				key, val := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
				fill(r, key, depth+1)
				fill(r, val, depth+1)
				m.SetMapIndex(key, val)
			}
			v.Set(m)
		}
	case reflect.Pointer:
		if r.IntN(3) == 0 || depth > 4 {
			v.SetZero()
			return
		}
		p := reflect.New(t.Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.IsExported() && f.Type.Kind() != reflect.Chan {
				fill(r, v.Field(i), depth)
			}
		}
	}
}

func TestSlicedRecord(t *testing.T) {
	// Slices of records carry an offset in every column, which structs pass
	// on to their children.
	r := rand.New(rand.NewPCG(15, 16))
	values := randomValues[customer](r, 200)
	c, _ := For[customer]()
	rec := c.Encode(nil, values)
	defer rec.Release()
	for _, s := range [][2]int{{0, 0}, {0, 1}, {13, 77}, {150, 200}} {
		sub := rec.NewSlice(int64(s[0]), int64(s[1]))
		got, err := c.Decode(sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, values[s[0]:s[1]], got)
		var batched []customer
		for batch, err := range c.Batches(sub, 16) {
			if err != nil {
				t.Fatal(err)
			}
			batched = append(batched, batch...)
		}
		compare(t, values[s[0]:s[1]], batched)
		sub.Release()
	}

	floats := []float64{0, 1, 2, 3, 4, 5, 6, 7}
	cf, _ := For[float64]()
	recf := cf.Encode(nil, floats)
	defer recf.Release()
	sub := recf.NewSlice(3, 7)
	defer sub.Release()
	checkViews(t, cf, sub, recf.Column(0).(*array.Float64).Float64Values()[3:], floats[3:7])
}

func TestForeignNulls(t *testing.T) {
	// Another producer's nullable struct column: a null row decodes as the
	// zero value, or as nil through a pointer.
	type point struct {
		X int64
		S string
	}
	dt := arrow.StructOf(arrow.Field{Name: "X", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, arrow.Field{Name: "S", Type: arrow.BinaryTypes.String, Nullable: true})
	b := array.NewStructBuilder(memory.DefaultAllocator, dt)
	b.Append(true)
	b.FieldBuilder(0).(*array.Int64Builder).Append(1)
	b.FieldBuilder(1).(*array.StringBuilder).Append("a")
	b.Append(false)
	b.Append(true)
	b.FieldBuilder(0).(*array.Int64Builder).AppendNull()
	b.FieldBuilder(1).(*array.StringBuilder).Append("c")
	arr := b.NewArray()
	b.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "P", Type: dt, Nullable: true}}, nil)
	rec := array.NewRecord(schema, []arrow.Array{arr}, 3)
	arr.Release()
	defer rec.Release()

	cv, _ := For[struct{ P point }]()
	vals, err := cv.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].P != (point{1, "a"}) || vals[1].P != (point{}) || vals[2].P != (point{0, "c"}) {
		t.Errorf("got %v", vals)
	}
	cp, _ := For[struct{ P *point }]()
	ptrs, err := cp.Decode(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ptrs[0].P == nil || *ptrs[0].P != (point{1, "a"}) || ptrs[1].P != nil || ptrs[2].P == nil || *ptrs[2].P != (point{0, "c"}) {
		t.Errorf("got %v %v %v", ptrs[0].P, ptrs[1].P, ptrs[2].P)
	}
}
