package rdd_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/rdd"
	"github.com/ember-go/ember/scheduler"
)

func TestBuildingComputesNothing(t *testing.T) {
	s := newSession(t)
	var calls atomic.Int64
	r := rdd.Range(s, 0, 1000, 4)
	m := rdd.Map(r, func(x int64) int64 { calls.Add(1); return x })
	f := m.Filter(func(x int64) bool { calls.Add(1); return true })
	g := rdd.GroupByKey(rdd.KeyBy(f, func(x int64) int64 { calls.Add(1); return x % 5 }), 3)
	sorted := rdd.SortBy(g, func(p rdd.Pair[int64, []int64]) int64 { calls.Add(1); return p.Key }, true, 2)
	_ = sorted.Lineage()
	if n := calls.Load(); n != 0 {
		t.Fatalf("building the lineage called user functions %d times", n)
	}
	if _, err := sorted.Count(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() == 0 {
		t.Fatal("the action called no user function")
	}
}

func TestCacheComputesOnce(t *testing.T) {
	for _, level := range []rdd.StorageLevel{rdd.MemoryOnly, rdd.MemoryAndDisk, rdd.DiskOnly} {
		t.Run(level.String(), func(t *testing.T) {
			s := newSession(t)
			var calls atomic.Int64
			r := rdd.Map(rdd.Range(s, 0, 10000, 4), func(x int64) string { calls.Add(1); return fmt.Sprint(x) }).Persist(level)
			first := collect(t, r)
			second := collect(t, r)
			equal(t, "second action", second, first)
			if n := calls.Load(); n != 10000 {
				t.Fatalf("map function ran %d times over two actions, want 10000", n)
			}
			r.Unpersist()
			collect(t, r)
			if n := calls.Load(); n != 20000 {
				t.Fatalf("after Unpersist the map function ran %d times in all, want 20000", n)
			}
		})
	}
}

func TestEvictionRecomputesOrSpills(t *testing.T) {
	// A 64 KiB memory store cannot hold 200k int64s (1.6 MB).
	for _, tc := range []struct {
		level     rdd.StorageLevel
		recompute bool
	}{{rdd.MemoryOnly, true}, {rdd.MemoryAndDisk, false}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			s := newSession(t, rdd.WithConf("storage.memoryLimit", "64k"))
			var calls atomic.Int64
			r := rdd.Map(rdd.Range(s, 0, 200000, 4), func(x int64) int64 { calls.Add(1); return x * 2 }).Persist(tc.level)
			a, b := collect(t, r), collect(t, r)
			equal(t, "second action", b, a)
			if recomputed := calls.Load() > 200000; recomputed != tc.recompute {
				t.Fatalf("map calls = %d: recomputed = %v, want %v", calls.Load(), recomputed, tc.recompute)
			}
		})
	}
}

func TestShuffleOutputReusedAcrossJobs(t *testing.T) {
	s := newSession(t)
	var mapCalls atomic.Int64
	pairs := rdd.Map(rdd.Range(s, 0, 5000, 4), func(x int64) rdd.Pair[int64, int64] {
		mapCalls.Add(1)
		return rdd.Pair[int64, int64]{Key: x % 10, Value: x}
	})
	sums := rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 3)
	a := collect(t, sums)
	if _, err := sums.Count(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := collect(t, rdd.MapValues(sums, func(v int64) int64 { return v }))
	sameElements(t, "second job", b, a)
	if n := mapCalls.Load(); n != 5000 {
		t.Fatalf("the map side ran %d times over three jobs, want 5000 (shuffle output reused)", n)
	}
}

func TestFailedTaskIsRetried(t *testing.T) {
	s := newSession(t)
	var failed sync.Map // partition → failed once
	r := rdd.MapPartitions(rdd.Range(s, 0, 1000, 5), func(p int, in iter.Seq[int64]) iter.Seq[int64] {
		if _, done := failed.LoadOrStore(p, true); !done {
			panic(fmt.Sprintf("first attempt of partition %d fails", p))
		}
		return in
	})
	sums := rdd.ReduceByKey(rdd.KeyBy(r, func(x int64) int64 { return x % 7 }), func(a, b int64) int64 { return a + b }, 2)
	want := map[int64]int64{}
	for x := range int64(1000) {
		want[x%7] += x
	}
	got := map[int64]int64{}
	for _, p := range collect(t, sums) {
		got[p.Key] = p.Value
	}
	if !maps.Equal(got, want) {
		t.Fatalf("sums after retries = %v, want %v", got, want)
	}
}

func TestPanicBecomesError(t *testing.T) {
	s := newSession(t, rdd.WithConf("task.maxFailures", "2"))
	var attempts atomic.Int64
	r := rdd.Map(rdd.Range(s, 0, 100, 2), func(x int64) int64 {
		if x == 42 {
			attempts.Add(1)
			panic("boom at 42")
		}
		return x
	}) // the line above is the creation site
	_, err := r.Collect(context.Background())
	if err == nil {
		t.Fatal("no error from a panicking map function")
	}
	var pe *rdd.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *rdd.PanicError", err)
	}
	msg := err.Error()
	for _, want := range []string{"boom at 42", "behaviour_test.go:", "Map [", "failed after 2 attempt(s)", "goroutine"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if n := attempts.Load(); n != 2 {
		t.Fatalf("the panicking task ran %d times, want 2 (task.maxFailures)", n)
	}

	// A key function runs in the sort's sampling job and its map tasks,
	// which compute the parent: the error still names the sort.
	sorted := rdd.SortBy(rdd.Range(s, 0, 100, 2), func(x int64) int64 {
		if x == 7 {
			panic("bad key")
		}
		return x
	}, true, 2)
	_, err = sorted.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "panic in SortBy [") || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("a panicking sort key gave %v, want a panic naming SortBy", err)
	}
}

func TestCancellationStopsJob(t *testing.T) {
	s := newSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	r := rdd.Map(rdd.Range(s, 0, 1<<40, 4), func(x int64) int64 {
		once.Do(func() { close(started) })
		return x
	})
	done := make(chan error, 1)
	go func() { _, err := r.Count(ctx); done <- err }()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled job returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("job still running 10s after its context was cancelled")
	}
}

func TestBadInput(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	a := rdd.Range(s, 0, 10, 2)
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
	_, err := rdd.Zip(a, rdd.Range(s, 0, 10, 3)).Count(ctx)
	check("zip partition counts", err, "different numbers of partitions", "behaviour_test.go:")
	_, err = rdd.Zip(a, rdd.Range(s, 0, 12, 2)).Count(ctx)
	check("zip lengths", err, "differs in length")
	_, err = rdd.Map[int64, int64](a, nil).Count(ctx)
	check("nil map", err, "nil")
	_, err = a.Filter(nil).Count(ctx)
	check("nil filter", err, "nil")
	ch := rdd.Map(a, func(int64) chan int { return nil })
	check("unsupported type at build", ch.Err(), "chan int", "behaviour_test.go:")
	_, err = ch.Count(ctx)
	check("unsupported type at action", err, "chan int")
	type bad struct {
		Name string
		F    func()
	}
	_, err = rdd.Parallelize(s, []bad{{}}, 1).Count(ctx)
	check("unsupported field", err, "F")
	_, err = rdd.NewSession(rdd.WithMaster("yarn"))
	check("unknown master", err, "unknown master", "yarn")
	_, err = rdd.NewSession(rdd.WithMaster("local[0]"))
	check("zero slots", err, "local[0]")
	_, err = rdd.NewSession(rdd.WithConf("shuffle.compression", "gzip"))
	check("bad compression", err, "gzip")
	_, err = rdd.NewSession(rdd.WithConf("no.such.key", "1"))
	check("unknown key", err, "no.such.key")
	_, err = rdd.TextFile(s, filepath.Join(t.TempDir(), "missing.txt"), 2).Count(ctx)
	check("missing file", err, "missing.txt", "TextFile")

	gone := filepath.Join(t.TempDir(), "gone.txt")
	os.WriteFile(gone, []byte("a\nb\n"), 0o644)
	lines := rdd.TextFile(s, gone, 1)
	os.Remove(gone)
	_, err = lines.Count(ctx)
	check("file removed before the job", err, "reading", "gone.txt")
	if strings.Contains(err.Error(), "panic") {
		t.Fatalf("a read error surfaced as a panic: %v", err)
	}

	closed, err := rdd.NewSession(rdd.WithMaster("local"))
	if err != nil {
		t.Fatal(err)
	}
	r := rdd.Range(closed, 0, 10, 1)
	closed.Close()
	if _, err := r.Count(ctx); !errors.Is(err, rdd.ErrSessionClosed) {
		t.Fatalf("action on closed session: %v, want ErrSessionClosed", err)
	}
}

func TestCloseRemovesShuffleFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"), rdd.WithConf("shuffle.dir", dir))
	if err != nil {
		t.Fatal(err)
	}
	r := rdd.ReduceByKey(rdd.KeyBy(rdd.Range(s, 0, 1000, 3), func(x int64) int64 { return x % 10 }), func(a, b int64) int64 { return a + b }, 2)
	if _, err := r.Count(context.Background()); err != nil {
		t.Fatal(err)
	}
	if files := walk(t, dir); len(files) == 0 {
		t.Fatal("the shuffle wrote no files in shuffle.dir")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if files := walk(t, dir); len(files) != 0 {
		t.Fatalf("files left in shuffle.dir after Close: %v", files)
	}
}

func walk(t *testing.T, dir string) []string {
	var files []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	return files
}

func TestSaveAsArrow(t *testing.T) {
	s := newSession(t)
	type row struct {
		ID   int64
		Name string
		Tags []string
	}
	var data []row
	for i := range 1000 {
		data = append(data, row{int64(i), fmt.Sprint("n", i), slices.Repeat([]string{"t"}, i%3)})
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := rdd.Parallelize(s, data, 4).SaveAsArrow(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "_SUCCESS")); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for p := range 4 {
		f, err := os.Open(filepath.Join(dir, fmt.Sprintf("part-%05d.arrow", p)))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := ipc.NewFileReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := rd.Schema().Field(1).Name; got != "Name" {
			t.Fatalf("column 1 is %q, want Name", got)
		}
		for i := range rd.NumRecords() {
			rec, err := rd.Record(i)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, rec.Column(0).(*array.Int64).Int64Values()...)
		}
		rd.Close()
		f.Close()
	}
	equal(t, "saved IDs", ids, mapSlice(data, func(r row) int64 { return r.ID }))
	if err := rdd.Parallelize(s, data, 4).SaveAsArrow(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("saving over a full directory: %v, want an error", err)
	}
}

func TestTextFileRoundTrip(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	lines := []string{"", "alpha", "beta gamma", "", "a much longer line " + strings.Repeat("x", 300), "delta", "ε unicode", ""}
	for _, dataCase := range []struct {
		name    string
		content string
		want    []string
	}{
		{"lf", strings.Join(lines, "\n") + "\n", lines},
		{"crlf-no-final-newline", strings.Join(lines, "\r\n"), lines},
		{"empty", "", nil},
	} {
		for _, parts := range []int{1, 2, 5, 40} {
			t.Run(fmt.Sprintf("%s/%d", dataCase.name, parts), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "in.txt")
				os.WriteFile(path, []byte(dataCase.content), 0o644)
				want := dataCase.want
				if dataCase.name == "crlf-no-final-newline" {
					want = lines[:len(lines)-1] // the last line is empty and unterminated
				}
				equal(t, "TextFile", collect(t, rdd.TextFile(s, path, parts)), want)
			})
		}
	}
	dir := filepath.Join(t.TempDir(), "text")
	words := rdd.Parallelize(s, []string{"one", "two", "three", "four"}, 3)
	if err := words.SaveAsTextFile(ctx, dir); err != nil {
		t.Fatal(err)
	}
	sameElements(t, "SaveAsTextFile then TextFile", collect(t, rdd.TextFile(s, dir, 2)), []string{"one", "two", "three", "four"})
}

func TestLineage(t *testing.T) {
	s := newSession(t)
	pairs := rdd.KeyBy(rdd.Range(s, 0, 10, 4), func(x int64) int64 { return x % 2 }).Cache()
	sums := rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 2)
	l := sums.Lineage()
	for _, want := range []string{"(2) ReduceByKey", "+-(4) KeyBy", "[MEMORY_ONLY]", "Range [", "behaviour_test.go:"} {
		if !strings.Contains(l, want) {
			t.Errorf("Lineage lacks %q:\n%s", want, l)
		}
	}
}

func TestSharedVariables(t *testing.T) {
	s := newSession(t)
	factor := rdd.NewBroadcast(s, int64(3))
	seen := rdd.NewAccumulator[int64](s, "seen")
	total := rdd.NewAccumulator[float64](s, "total")
	r := rdd.Map(rdd.Range(s, 0, 100, 4), func(x int64) int64 { return x * factor.Value() })
	if err := r.Foreach(context.Background(), func(x int64) { seen.Add(1); total.Add(float64(x) / 2) }); err != nil {
		t.Fatal(err)
	}
	if seen.Value() != 100 || total.Value() != 3*4950/2.0 {
		t.Fatalf("accumulators = %d, %v; want 100, %v", seen.Value(), total.Value(), 3*4950/2.0)
	}
}

func TestCorruptShuffleBlockIsRecomputed(t *testing.T) {
	dir := t.TempDir()
	s := newSession(t, rdd.WithConf("shuffle.dir", dir), rdd.WithConf("shuffle.compression", "none"))
	var mapCalls atomic.Int64
	src := rdd.Map(rdd.Range(s, 0, 10000, 2), func(x int64) rdd.Pair[int64, int64] {
		mapCalls.Add(1)
		return rdd.Pair[int64, int64]{Key: x % 7, Value: x}
	})
	sums := rdd.ReduceByKey(src, func(a, b int64) int64 { return a + b }, 1)
	want := collect(t, sums)
	// Flip a byte in the middle of every map output's data file.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".data") {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}
		return nil
	})
	sameElements(t, "after corrupting the shuffle files", collect(t, sums), want)
	if n := mapCalls.Load(); n != 20000 {
		t.Fatalf("the map side ran %d times, want 20000 (each map output recomputed once)", n)
	}
}

func TestConcurrentJobsShareASort(t *testing.T) {
	s := newSession(t)
	sorted := rdd.SortBy(rdd.Map(rdd.Range(s, 0, 20000, 8), func(x int64) int64 { return (x * 7919) % 20011 }),
		func(x int64) int64 { return x }, false, 5)
	var wg sync.WaitGroup
	res := make([][]int64, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				res[i], errs[i] = sorted.Collect(context.Background())
			} else {
				res[i], errs[i] = sorted.Take(context.Background(), 20000)
			}
		}()
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(res[i]) != 20000 || !slices.IsSortedFunc(res[i], func(a, b int64) int { return int(b - a) }) {
			t.Fatalf("job %d: %d elements, sorted descending: %v", i, len(res[i]), slices.IsSortedFunc(res[i], func(a, b int64) int { return int(b - a) }))
		}
	}
}

func TestCloseWhileJobsRun(t *testing.T) {
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // if the test stops before its own Close
	// The map tasks wait at their first element until Close is about to
	// begin, so that the jobs are still running when it does.
	closing := make(chan struct{})
	var open atomic.Bool
	var held atomic.Int64
	letGo := sync.OnceFunc(func() { open.Store(true); close(closing) })
	defer letGo()
	r := rdd.Map(rdd.Range(s, 0, 1<<22, 8), func(x int64) rdd.Pair[int64, int64] {
		if !open.Load() {
			held.Add(1)
			<-closing
		}
		return rdd.Pair[int64, int64]{Key: x % 1000, Value: x}
	})
	sums := rdd.ReduceByKey(r, func(a, b int64) int64 { return a + b }, 4)
	errc := make(chan error, 3)
	for range 3 {
		go func() { _, err := sums.Collect(context.Background()); errc <- err }()
	}
	// Close once the status API lists the three jobs as running and a
	// task of theirs is waiting in the map function.
	base := "http://" + s.UIAddr()
	var jobs []apiJob
	if !await.Until(10*time.Second, func() bool {
		jobs = nil
		getJSON(t, base+"/api/v1/jobs", &jobs)
		running := 0
		for _, j := range jobs {
			if j.Status == "running" {
				running++
			}
		}
		return running == 3 && held.Load() > 0
	}) {
		t.Fatalf("jobs %+v, %d tasks in the map function after 10 s: want 3 running jobs and a running task", jobs, held.Load())
	}
	letGo()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errc; err != nil && !errors.Is(err, rdd.ErrSessionClosed) {
			t.Errorf("a job running during Close: %v, want success or ErrSessionClosed", err)
		}
	}
}

func TestSourceGivesTheSameElementsEachTime(t *testing.T) {
	// Writing into the input of MapBatches is documented as forbidden; what
	// the engine guarantees is that its own operators never do, so a source
	// read twice gives the same elements.
	s := newSession(t)
	r := rdd.Parallelize(s, []int64{1, 2, 3}, 1)
	doubled := rdd.MapBatches(r, func(in []int64) []int64 {
		out := make([]int64, len(in))
		for i, x := range in {
			out[i] = 2 * x
		}
		return out
	})
	equal(t, "first", collect(t, doubled), []int64{2, 4, 6})
	equal(t, "second", collect(t, doubled), []int64{2, 4, 6})
}

func TestDependencies(t *testing.T) {
	s := newSession(t)
	a := rdd.Range(s, 0, 100, 4)
	b := rdd.Range(s, 0, 100, 3)
	parents := func(d scheduler.Dependency, child int) []int { return d.Parents(child) }

	m := rdd.Map(a, func(x int64) int64 { return x })
	if d := rdd.DependenciesOf(m); len(d) != 1 || d[0].Shuffle != nil || !slices.Equal(parents(d[0], 2), []int{2}) {
		t.Fatalf("Map: want one one-to-one dependency")
	}
	u := a.Union(b)
	d := rdd.DependenciesOf(u)
	if len(d) != 2 || !slices.Equal(parents(d[0], 3), []int{3}) || parents(d[0], 4) != nil ||
		!slices.Equal(parents(d[1], 4), []int{0}) || !slices.Equal(parents(d[1], 6), []int{2}) || parents(d[1], 1) != nil {
		t.Fatalf("Union: want range dependencies [0,4)→a[0,4) and [4,7)→b[0,3)")
	}
	if d := rdd.DependenciesOf(a.Coalesce(2)); !slices.Equal(parents(d[0], 0), []int{0, 1}) || !slices.Equal(parents(d[0], 1), []int{2, 3}) {
		t.Fatalf("Coalesce(2) of 4: want partitions {0,1} and {2,3}")
	}
	c := rdd.DependenciesOf(rdd.Cartesian(a, b))
	if !slices.Equal(parents(c[0], 7), []int{2}) || !slices.Equal(parents(c[1], 7), []int{1}) {
		t.Fatalf("Cartesian: partition 7 reads a[7/3] and b[7%%3]")
	}
	sums := rdd.ReduceByKey(rdd.KeyBy(a, func(x int64) int64 { return x % 3 }), func(x, y int64) int64 { return x + y }, 2)
	if d := rdd.DependenciesOf(sums); len(d) != 1 || d[0].Shuffle == nil || d[0].Parents != nil || d[0].Shuffle.NumReduce != 2 {
		t.Fatalf("ReduceByKey: want one shuffle dependency with 2 reduce partitions")
	}
}

// Operators that gather by key give their output in an order fixed by their
// input, so a partition computed twice is the same: recomputation after a
// loss and Zip of a shuffled RDD with a map of itself rely on it.
func TestShuffledPartitionsAreDeterministic(t *testing.T) {
	s := newSession(t)
	pairs := rdd.KeyBy(rdd.Range(s, 0, 5000, 4), func(x int64) int64 { return x * 7919 % 1013 })
	for name, r := range map[string]*rdd.RDD[int64]{
		"ReduceByKey": rdd.Keys(rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 3)),
		"GroupByKey":  rdd.Keys(rdd.GroupByKey(pairs, 3)),
		"Distinct":    rdd.Distinct(rdd.Values(pairs), 3),
		"Join":        rdd.Keys(rdd.Join(pairs, pairs, 3)),
	} {
		first, second := collect(t, r), collect(t, r)
		equal(t, name+" computed twice", second, first)
		zipped := collect(t, rdd.Zip(r, rdd.Map(r, func(x int64) int64 { return -x })))
		for _, p := range zipped {
			if p.Value != -p.Key {
				t.Fatalf("%s zipped with a map of itself paired %d with %d", name, p.Key, p.Value)
			}
		}
	}
}
