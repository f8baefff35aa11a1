package codec

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHasherDeterministic(t *testing.T) {
	// The hashes are part of the on-disk and on-wire contract between
	// processes: they must not change from one run, or release, to the next.
	type key struct {
		Name  string
		ID    int64
		When  time.Time
		Pos   [2]int16
		Skip  string `ember:"-"`
		Score float64
	}
	for _, tc := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"int64 0", mustHash[int64](t)(0), 0xe220a8397b1dcdaf},
		{"int64 42", mustHash[int64](t)(42), 0xbdd732262feb6e95},
		{"int 42", mustHash[int](t)(42), 0xbdd732262feb6e95},
		{"int8 -1", mustHash[int8](t)(-1), mustHash[int64](t)(-1)},
		{"uint32 7", mustHash[uint32](t)(7), mustHash[uint64](t)(7)},
		{"float64 1.5", mustHash[float64](t)(1.5), 0xd6dab18e1392608a},
		{"string", mustHash[string](t)("ember"), 0x0f6a0098da564b33},
		{"struct", mustHash[key](t)(key{Name: "a", ID: 1, When: time.Unix(10, 5), Pos: [2]int16{3, 4}, Score: 2}), 0x05aee5ebe222fddf},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: hash %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}

func TestHasherEqualValues(t *testing.T) {
	hf := mustHash[float64](t)
	if hf(0) != hf(math.Copysign(0, -1)) {
		t.Error("0.0 and -0.0 hash differently")
	}
	if hf(math.NaN()) != hf(math.Float64frombits(0x7ff8000000000bad)) {
		t.Error("NaNs hash differently")
	}
	if hf(1) == hf(-1) {
		t.Error("1 and -1 hash alike")
	}
	hf32 := mustHash[float32](t)
	if hf32(0) != hf32(float32(math.Copysign(0, -1))) {
		t.Error("float32 0 and -0 hash differently")
	}

	type p = pair[string, float64]
	hp := mustHash[p](t)
	if hp(p{"a", 0}) != hp(p{"a", math.Copysign(0, -1)}) {
		t.Error("struct fields 0.0 and -0.0 hash differently")
	}
	if hp(p{"a", 1}) != mustHash[p](t)(p{"a", 1}) {
		t.Error("two derivations disagree")
	}
	hs := mustHash[pair[string, string]](t)
	if hs(pair[string, string]{"a", "b"}) == hs(pair[string, string]{"b", "a"}) {
		t.Error("swapped fields hash alike")
	}
	if hs(pair[string, string]{"ab", ""}) == hs(pair[string, string]{"a", "b"}) {
		t.Error("field boundaries are not part of the hash")
	}

	type skip struct {
		ID    int
		Cache int `ember:"-"`
		memo  int `ember:"-"`
	}
	hk := mustHash[skip](t)
	if hk(skip{ID: 1, Cache: 2, memo: 3}) != hk(skip{ID: 1}) {
		t.Error("skipped fields change the hash")
	}

	ht := mustHash[time.Time](t)
	now := time.Now()
	if ht(now) != ht(now.Round(0).In(time.FixedZone("X", 3600))) {
		t.Error("one instant hashes differently")
	}

	ha := mustHash[[4]byte](t)
	if ha([4]byte{1, 2, 3, 4}) != ha([4]byte{1, 2, 3, 4}) || ha([4]byte{1, 2, 3, 4}) == ha([4]byte{4, 3, 2, 1}) {
		t.Error("byte arrays")
	}
	hai := mustHash[[3]int32](t)
	if hai([3]int32{1, 2, 3}) == hai([3]int32{3, 2, 1}) {
		t.Error("int arrays ignore order")
	}
	hb := mustHash[bool](t)
	if hb(true) == hb(false) {
		t.Error("true and false hash alike")
	}
	type named string
	if mustHash[named](t)("x") != mustHash[string](t)("x") {
		t.Error("a named string hashes differently from its underlying type")
	}
}

func TestHasherDistribution(t *testing.T) {
	const n, buckets = 100_000, 64
	check := func(name string, hash func(i int) uint64) {
		t.Helper()
		var counts [buckets]int
		for i := range n {
			counts[hash(i)%buckets]++
		}
		mean := n / buckets
		for b, c := range counts {
			if c < mean*8/10 || c > mean*12/10 {
				t.Errorf("%s: bucket %d holds %d, mean %d", name, b, c, mean)
			}
		}
	}
	hi := mustHash[int](t)
	check("ints", func(i int) uint64 { return hi(i) })
	check("multiples of 64", func(i int) uint64 { return hi(i * 64) })
	hs := mustHash[string](t)
	check("strings", func(i int) uint64 { return hs(fmt.Sprint("key-", i)) })
	hp := mustHash[pair[int32, int32]](t)
	check("structs", func(i int) uint64 { return hp(pair[int32, int32]{int32(i / 300), int32(i % 300)}) })
	hf := mustHash[float64](t)
	check("floats", func(i int) uint64 { return hf(float64(i)) })
}

func TestHasherUnsupported(t *testing.T) {
	type withPtr struct {
		ID   int
		Next *int
	}
	type withHidden struct {
		ID     int
		secret string
	}
	type withChan struct {
		In struct{ C chan int }
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{hashErr[withPtr](), "*int at field Next (of codec.withPtr)"},
		{hashErr[withHidden](), "string at field secret (of codec.withHidden)"},
		{hashErr[withChan](), "chan int at field In.C (of codec.withChan)"},
		{hashErr[any](), "interface {}"},
		{hashErr[complex128](), "complex128"},
		{hashErr[uintptr](), "uintptr"},
		{hashErr[*int](), "*int"},
	} {
		if !errors.Is(tc.err, ErrUnsupported) || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("error %v: want ErrUnsupported mentioning %q", tc.err, tc.want)
		}
	}
}

func TestHasherAllocs(t *testing.T) {
	hi, hs := mustHash[int64](t), mustHash[string](t)
	key := strings.Repeat("k", 40)
	if a := testing.AllocsPerRun(100, func() { hi(12345); hs(key) }); a != 0 {
		t.Errorf("%v allocations per hash", a)
	}
}

func TestHasherConcurrent(t *testing.T) {
	h := mustHash[pair[string, int64]](t)
	want := h(pair[string, int64]{"key", 7})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if h(pair[string, int64]{"key", 7}) != want {
					t.Error("hash changed")
					return
				}
			}
		})
	}
	wg.Wait()
}

func mustHash[K comparable](t *testing.T) func(K) uint64 {
	t.Helper()
	h, err := Hasher[K]()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func hashErr[K comparable]() error {
	_, err := Hasher[K]()
	return err
}
