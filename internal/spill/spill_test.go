package spill

import (
	"cmp"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// budget is a Memory of fixed size, for one structure.
type budget struct {
	t          *testing.T
	limit, got int64
	dir        string
	spilledMem int64
	spilledDsk int64
}

func newBudget(t *testing.T, limit int64) *budget {
	return &budget{t: t, limit: limit, dir: t.TempDir()}
}

func (b *budget) Reserve(n int64) int64 {
	n = max(0, min(n, b.limit-b.got))
	b.got += n
	return n
}
func (b *budget) Free(n int64) {
	if n > b.got {
		b.t.Errorf("freed %d bytes, holding %d", n, b.got)
	}
	b.got -= n
}
func (b *budget) SpillDir() (string, error) { return b.dir, nil }
func (b *budget) AddSpill(m, d int64)       { b.spilledMem += m; b.spilledDsk += d }

func (b *budget) files() int {
	entries, _ := os.ReadDir(b.dir)
	return len(entries)
}

type pair struct {
	Key   int64
	Value string
}

func TestSorterSpillsAndMerges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		budget int64
		fast   bool // with SetSort and a Grow hint
	}{{"in memory", 5_000, 64 << 20, false}, {"a few runs", 60_000, 1 << 20, false}, {"more runs than a merge takes", 300_000, 1 << 20, false}, {"empty", 0, 1 << 20, false},
		{"fast sort in memory", 50_000, 64 << 20, true}, {"fast sort, a few runs", 60_000, 1 << 20, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudget(t, tc.budget)
			s, err := NewSorter(b, func(a, b pair) int { return cmp.Compare(a.Key, b.Key) })
			if err != nil {
				t.Fatal(err)
			}
			fastSorts := 0
			if tc.fast {
				// A stable sort into the scratch space, as a radix sort returns it.
				s.SetSort(func(xs, scratch []pair) []pair {
					fastSorts++
					copy(scratch, xs)
					slices.SortStableFunc(scratch, func(a, b pair) int { return cmp.Compare(a.Key, b.Key) })
					return scratch
				})
				s.Grow(tc.n)
			}
			r := rand.New(rand.NewPCG(1, 2))
			var want []pair
			for i := 0; i < tc.n; i += 100 {
				batch := make([]pair, 0, 100)
				for j := range min(100, tc.n-i) {
					// Skewed: a tenth of the elements share key 7.
					k := r.Int64N(1_000_000)
					if r.IntN(10) == 0 {
						k = 7
					}
					batch = append(batch, pair{k, string(rune('a' + (i+j)%26))})
				}
				want = append(want, batch...)
				if err := s.Add(batch); err != nil {
					t.Fatal(err)
				}
			}
			var got []pair
			for x, err := range s.All() {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, x)
			}
			byKey := func(a, b pair) int { return cmp.Compare(a.Key, b.Key) }
			if !slices.IsSortedFunc(got, byKey) {
				t.Fatal("the output is not sorted")
			}
			// Equal keys come in no particular order: compare as sets.
			both := func(a, b pair) int { return cmp.Or(byKey(a, b), cmp.Compare(a.Value, b.Value)) }
			slices.SortFunc(got, both)
			slices.SortFunc(want, both)
			if !slices.Equal(got, want) {
				t.Fatalf("%d elements sorted, want %d, or they differ", len(got), len(want))
			}
			if tc.budget < 64<<20 && tc.n > 50_000 && (s.Spills() == 0 || b.spilledDsk == 0) {
				t.Errorf("%d elements in a 1 MiB budget did not spill", tc.n)
			}
			// Spilling, the share is full and holds no scratch space: the
			// fast sort is for what fits.
			if tc.fast && tc.budget >= 64<<20 && fastSorts == 0 {
				t.Error("the fast sort was not used on what fits in memory")
			}
			if tc.n == 300_000 && s.Spills() > maxMergeWidth {
				t.Errorf("%d runs left after the merge narrowed them", s.Spills())
			}
			s.Close()
			if b.got != 0 || b.files() != 0 {
				t.Errorf("after Close: %d bytes held, %d files left", b.got, b.files())
			}
		})
	}
}

func TestMapCombinesAcrossRuns(t *testing.T) {
	h := func(k int64) uint64 { return uint64(k) % 1009 } // many collisions
	b := newBudget(t, 1<<20)
	m, err := NewMap(b, h, func(a, b int64) int64 { return a + b })
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{}
	r := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		var grew int64
		for range 5_000 {
			k := r.Int64N(200_000)
			if r.IntN(4) == 0 {
				k = 42 // a hot key
			}
			want[k] += k + 1
			i, added := m.Slot(k)
			m.Vals()[i] += k + 1
			if added {
				grew += m.EntryBytes(k, 0)
			}
		}
		if err := m.Account(grew); err != nil {
			t.Fatal(err)
		}
	}
	if m.Spills() == 0 {
		t.Fatal("200,000 keys in a 1 MiB budget did not spill")
	}
	got := map[int64]int64{}
	for e, err := range m.All() {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[e.Key]; dup {
			t.Fatalf("key %d came twice", e.Key)
		}
		got[e.Key] = e.Value
	}
	if !maps.Equal(got, want) {
		t.Fatalf("%d keys, want %d, or sums differ", len(got), len(want))
	}
	m.Close()
	if b.got != 0 || b.files() != 0 {
		t.Errorf("after Close: %d bytes held, %d files left", b.got, b.files())
	}
}

// One key whose values alone exceed the budget fails clearly.
func TestMapKeyTooLarge(t *testing.T) {
	b := newBudget(t, 1<<20)
	m, err := NewMap(b, func(k string) uint64 { return uint64(len(k)) }, func(a, b []int64) []int64 { return append(a, b...) })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range 400 {
		idx, _ := m.Slot("giant")
		vals := m.Vals()
		vals[idx] = append(vals[idx], make([]int64, 1000)...)
		m.Slot("small" + string(rune('a'+i%26)))
		if err := m.Account(8000); err != nil {
			t.Fatal(err)
		}
	}
	var tooLarge *TooLargeError[string, []int64]
	for _, err := range m.All() {
		if err != nil {
			if !errors.As(err, &tooLarge) || tooLarge.Key != "giant" || len(tooLarge.Value) == 0 {
				t.Fatalf("error %v, want a TooLargeError for the giant key", err)
			}
			return
		}
	}
	t.Fatal("400,000 values of one key in a 1 MiB budget: no error")
}

func TestExactSizes(t *testing.T) {
	type rec struct {
		Name string
		Tags []string
		N    int64
	}
	v := rec{Name: "abcd", Tags: []string{"xy", "z"}, N: 1}
	want := int64(16+24+8) + 4 + 2*16 + 3
	if got := Exact(v); got != want {
		t.Errorf("Exact = %d, want %d", got, want)
	}
	if s := NewSizer[int64](); s.Of(5) != 8 {
		t.Errorf("Sizer[int64] = %d", s.Of(5))
	}
}

func TestIndexMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 15, 1000, 100_000} {
		x := NewIndex[int64](n / 3)
		want := map[int64]int32{}
		for i := range n {
			k := r.Int64N(int64(n/2 + 1)) // about half the keys repeat
			v, found := x.Put(k)
			if _, ok := want[k]; ok != found {
				t.Fatalf("n=%d: Put(%d) found=%v, a map says %v", n, k, found, ok)
			}
			*v = int32(i)
			want[k] = int32(i)
		}
		if x.Len() != len(want) {
			t.Fatalf("n=%d: %d keys, want %d", n, x.Len(), len(want))
		}
		for k, w := range want {
			if v, ok := x.Get(k); !ok || v != w {
				t.Fatalf("n=%d: Get(%d) = %d, %v; want %d", n, k, v, ok, w)
			}
		}
		if _, ok := x.Get(-1); ok {
			t.Fatalf("n=%d: a key never put was found", n)
		}
		got := map[int64]int32{}
		for k, v := range x.All() {
			got[k] = v
		}
		if !maps.Equal(got, want) {
			t.Fatalf("n=%d: All differs from a map", n)
		}
	}
}

// A map told to expect many rows whose first keys are all new makes room
// for them at once, in an Index, when the budget grants it, and keeps
// growing its Go map when the budget does not; either way it combines
// exactly, and never holds more than the budget.
func TestMapExpect(t *testing.T) {
	const rows = 300_000
	for _, c := range []struct {
		name    string
		limit   int64
		presize bool
	}{{"room", 64 << 20, true}, {"no room", 8 << 20, false}} {
		t.Run(c.name, func(t *testing.T) {
			b := newBudget(t, c.limit)
			m, err := NewMap(b, func(k int64) uint64 { return uint64(k) * 0x9E3779B97F4A7C15 }, func(a, b int64) int64 { return a + b })
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			m.Expect(rows)
			want := map[int64]int64{}
			r := rand.New(rand.NewPCG(5, 6))
			var keys, vals []int64
			for i := range rows {
				k := int64(i)*7_919%rows + int64(r.IntN(2))*rows // new, scattered
				if i%20 == 15 {
					// One in twenty repeats an earlier key, the
					// expectProbe-th among them: the map must not move
					// Vals for it.
					k = keys[i/2]
				}
				keys = append(keys, k)
				want[k]++
				// As operators do, keep Vals until a key is added.
				j, added := m.Slot(k)
				if added || vals == nil {
					vals = m.Vals()
				}
				vals[j]++
				if i == expectProbe && (m.table != nil) != c.presize {
					// Checked before Account, which would spill a map
					// made too large.
					t.Fatalf("after %d keys: presized into an index %v, want %v", i+1, m.table != nil, c.presize)
				}
				var grew int64
				if added {
					grew = m.EntryBytes(k, 0)
				}
				if err := m.Account(grew); err != nil {
					t.Fatal(err)
				}
				if b.got > c.limit {
					t.Fatalf("the map holds %d bytes of a %d budget", b.got, c.limit)
				}
			}
			if c.presize && (m.table == nil || m.Spills() > 0) {
				t.Errorf("presized map: index %v, %d spills; want the index and none", m.table != nil, m.Spills())
			}
			if !c.presize && m.Spills() == 0 {
				t.Errorf("%d keys in %d bytes did not spill", len(want), c.limit)
			}
			got := map[int64]int64{}
			for e, err := range m.All() {
				if err != nil {
					t.Fatal(err)
				}
				got[e.Key] += e.Value
			}
			if !maps.Equal(got, want) {
				t.Fatalf("%d keys, want %d, or counts differ", len(got), len(want))
			}
		})
	}
}
