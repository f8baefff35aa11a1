package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/rdd"
)

// spillSession is a local session with the smallest memory budget, and
// the directory its tasks spill in; it records how much its tasks spilled.
type spillSession struct {
	*rdd.Session
	dir string

	mu      sync.Mutex
	spilled int64 // bytes written to disk by spills
}

func newSpillSession(t *testing.T) *spillSession {
	dir := t.TempDir()
	s := &spillSession{dir: dir}
	s.Session = newSession(t, rdd.WithMaster("local[2]"), rdd.WithConf("memory.limit", "8m"), rdd.WithConf("shuffle.dir", dir))
	s.OnStageEvent(func(ev rdd.StageEvent) {
		if ev.Kind == rdd.TaskEnded && ev.Task != nil {
			s.mu.Lock()
			s.spilled += ev.Task.Metrics.DiskBytesSpilled
			s.mu.Unlock()
		}
	})
	return s
}

// takeSpilled returns the bytes spilled since the last call.
func (s *spillSession) takeSpilled() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.spilled
	s.spilled = 0
	return n
}

// leftovers lists the spill directories that outlived their tasks.
func (s *spillSession) leftovers() []string {
	dirs, _ := filepath.Glob(filepath.Join(s.dir, "spill-*"))
	return dirs
}

// skewedPairs makes n pairs over about keys keys, with one in hot on key
// 0 (none if hot is 0).
func skewedPairs(seed uint64, n, keys, hot int) []rdd.Pair[int64, int64] {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]rdd.Pair[int64, int64], n)
	for i := range out {
		k := r.Int64N(int64(keys))
		if hot > 0 && r.IntN(hot) == 0 {
			k = 0
		}
		out[i] = rdd.Pair[int64, int64]{Key: k, Value: r.Int64N(1000)}
	}
	return out
}

// Every wide operator gives the right answer with a budget far smaller
// than its data, spilling on the way, and leaves no spill file behind.
func TestWideOperatorsSpill(t *testing.T) {
	if testing.Short() {
		t.Skip("spills a few hundred MB")
	}
	ctx := context.Background()
	s := newSpillSession(t)
	const n = 400_000
	// The left side is skewed: a fifth of it on one key.
	left, right := skewedPairs(1, n, n, 5), skewedPairs(2, n/2, n, 0)
	// Eight partitions, of which the first two are empty.
	a := rdd.Parallelize(s.Session, append(make([]rdd.Pair[int64, int64], 0), left...), 6)
	a = rdd.Parallelize(s.Session, []rdd.Pair[int64, int64]{}, 2).Union(a)
	b := rdd.Parallelize(s.Session, right, 5)

	sums := map[int64]int64{}
	groups := map[int64][]int64{}
	for _, kv := range left {
		sums[kv.Key] += kv.Value
		groups[kv.Key] = append(groups[kv.Key], kv.Value)
	}
	rightGroups := map[int64][]int64{}
	for _, kv := range right {
		rightGroups[kv.Key] = append(rightGroups[kv.Key], kv.Value)
	}
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: wrong answer with a tiny budget", what)
		}
		if spilled := s.takeSpilled(); spilled == 0 && what != "CountByKey" { // its 8 partitions fit
			t.Errorf("%s: spilled nothing with an 8 MiB budget", what)
		}
		if left := s.leftovers(); len(left) > 0 {
			t.Errorf("%s: spill directories left behind: %v", what, left)
		}
	}

	got, err := rdd.CollectAsMap(ctx, rdd.ReduceByKey(a, func(x, y int64) int64 { return x + y }, 2))
	check("ReduceByKey", err == nil && maps.Equal(got, sums))

	folded, err := rdd.CollectAsMap(ctx, rdd.FoldByKey(a, 0, func(x, y int64) int64 { return x + y }, 2))
	check("FoldByKey", err == nil && maps.Equal(folded, sums))

	aggregated, err := rdd.CollectAsMap(ctx, rdd.AggregateByKey(a, []int64(nil),
		func(acc []int64, v int64) []int64 { return append(acc, v) },
		func(x, y []int64) []int64 { return append(x, y...) }, 2))
	sameAggregates := err == nil && len(aggregated) == len(groups)
	for k, vs := range aggregated {
		sameAggregates = sameAggregates && len(vs) == len(groups[k])
	}
	check("AggregateByKey", sameAggregates)

	combinedCounts, err := rdd.CollectAsMap(ctx, rdd.CombineByKey(a, func(int64) int64 { return 1 },
		func(c, _ int64) int64 { return c + 1 }, func(x, y int64) int64 { return x + y }, 2))
	sameCounts := err == nil && len(combinedCounts) == len(groups)
	for k, c := range combinedCounts {
		sameCounts = sameCounts && c == int64(len(groups[k]))
	}
	check("CombineByKey", sameCounts)

	counts, err := rdd.CountByKey(ctx, a)
	want := map[int64]int64{}
	for k, vs := range groups {
		want[k] = int64(len(vs))
	}
	check("CountByKey", err == nil && maps.Equal(counts, want))

	keys, err := rdd.Distinct(rdd.Keys(a), 2).Collect(ctx)
	slices.Sort(keys)
	check("Distinct", err == nil && slices.Equal(keys, slices.Sorted(maps.Keys(groups))))

	grouped, err := rdd.GroupByKey(a, 2).Collect(ctx)
	sameGroups := err == nil && len(grouped) == len(groups)
	for _, g := range grouped {
		slices.Sort(g.Value)
		sameGroups = sameGroups && slices.Equal(g.Value, slices.Sorted(slices.Values(groups[g.Key])))
	}
	check("GroupByKey", sameGroups)

	// Which value met which: a sum over the matches that changes if one
	// is paired wrongly, lost or doubled.
	match := func(k, v, w int64) int64 { return (k + 1) * (v*1_000_003 + w + 1) }
	joinedSum, err := rdd.Map(rdd.Join(a, b, 2), func(kv rdd.Pair[int64, rdd.Pair[int64, int64]]) int64 {
		return match(kv.Key, kv.Value.Key, kv.Value.Value)
	}).Reduce(ctx, func(x, y int64) int64 { return x + y })
	var wantJoined, wantSum int64
	for k, vs := range groups {
		wantJoined += int64(len(vs) * len(rightGroups[k]))
		for _, v := range vs {
			for _, w := range rightGroups[k] {
				wantSum += match(k, v, w)
			}
		}
	}
	check("Join", err == nil && joinedSum == wantSum)

	outer, err := rdd.FullOuterJoin(a, b, 2).Count(ctx)
	wantOuter := wantJoined
	for k, vs := range groups {
		if len(rightGroups[k]) == 0 {
			wantOuter += int64(len(vs))
		}
	}
	for k, ws := range rightGroups {
		if len(groups[k]) == 0 {
			wantOuter += int64(len(ws))
		}
	}
	check("FullOuterJoin", err == nil && outer == wantOuter)

	leftJoined, err := rdd.LeftOuterJoin(a, b, 2).Count(ctx)
	wantLeft := wantJoined
	for k, vs := range groups {
		if len(rightGroups[k]) == 0 {
			wantLeft += int64(len(vs))
		}
	}
	check("LeftOuterJoin", err == nil && leftJoined == wantLeft)

	cogrouped, err := rdd.CoGroup(a, b, 2).Count(ctx)
	wantKeys := int64(len(groups))
	for k := range rightGroups {
		if len(groups[k]) == 0 {
			wantKeys++
		}
	}
	check("CoGroup", err == nil && cogrouped == wantKeys)

	rest, err := rdd.SubtractByKey(a, b, 2).Count(ctx)
	var wantRest int64
	for k, vs := range groups {
		if len(rightGroups[k]) == 0 {
			wantRest += int64(len(vs))
		}
	}
	check("SubtractByKey", err == nil && rest == wantRest)

	leftKeys, err := rdd.Subtract(rdd.Keys(a), rdd.Keys(b), 2).Count(ctx)
	check("Subtract", err == nil && leftKeys == wantRest)

	common, err := rdd.Intersection(rdd.Keys(a), rdd.Keys(b), 2).Count(ctx)
	var wantCommon int64
	for k := range groups {
		if len(rightGroups[k]) > 0 {
			wantCommon++
		}
	}
	check("Intersection", err == nil && common == wantCommon)

	// Twice the values, in one partition: more than the whole budget.
	sorted, err := rdd.SortBy(rdd.Values(a.Union(a)), func(v int64) int64 { return -v }, true, 1).Collect(ctx)
	wantSorted := make([]int64, 0, 2*len(left))
	for _, kv := range left {
		wantSorted = append(wantSorted, kv.Value, kv.Value)
	}
	slices.SortFunc(wantSorted, func(x, y int64) int { return cmp.Compare(y, x) })
	check("SortBy", err == nil && slices.Equal(sorted, wantSorted))
}

// One key whose values alone exceed the budget fails with an error that
// names the RDD, the key and its values, instead of exhausting memory.
func TestOneKeyLargerThanTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("spills a few hundred MB")
	}
	s := newSpillSession(t)
	ones := rdd.Map(rdd.Range(s.Session, 0, 3_000_000, 4), func(i int64) rdd.Pair[string, int64] {
		return rdd.Pair[string, int64]{Key: "hot", Value: i}
	})
	_, err := rdd.GroupByKey(ones, 2).Count(context.Background())
	if !errors.Is(err, rdd.ErrKeyTooLarge) {
		t.Fatalf("a key of 3,000,000 values in an 8 MiB budget: %v; want ErrKeyTooLarge", err)
	}
	for _, want := range []string{"GroupByKey", "spill_test.go:", "key hot", "values", "memory.limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if left := s.leftovers(); len(left) > 0 {
		t.Errorf("spill directories left behind: %v", left)
	}
	if entries, _ := os.ReadDir(s.dir); len(entries) > 0 {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "spill-") {
				t.Errorf("left in the spill directory: %s", e.Name())
			}
		}
	}
}

// An action whose results add up to more than driver.maxResultSize fails
// saying so, before the driver holds them all; Take still works.
func TestMaxResultSize(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"), rdd.WithConf("driver.maxResultSize", "1m"))
	ctx := context.Background()
	big := rdd.Range(s, 0, 1_000_000, 8) // 8 MB of int64
	_, err := big.Collect(ctx)
	if !errors.Is(err, rdd.ErrResultTooLarge) || !strings.Contains(err.Error(), "driver.maxResultSize (1m)") {
		t.Fatalf("collecting 8 MB with a 1 MiB bound: %v", err)
	}
	if xs, err := big.Take(ctx, 10); err != nil || len(xs) != 10 {
		t.Errorf("Take(10): %v, %v", xs, err)
	}
	if n, err := big.Count(ctx); err != nil || n != 1_000_000 {
		t.Errorf("Count: %d, %v", n, err)
	}
	unbounded := newSession(t, rdd.WithMaster("local[2]"), rdd.WithConf("driver.maxResultSize", "off"))
	if xs, err := rdd.Range(unbounded, 0, 1_000_000, 8).Collect(ctx); err != nil || len(xs) != 1_000_000 {
		t.Errorf("without a bound: %d elements, %v", len(xs), err)
	}
	for _, bad := range []string{"-5", "lots"} {
		if _, err := rdd.NewSession(rdd.WithMaster("local"), rdd.WithConf("driver.maxResultSize", bad)); err == nil || !strings.Contains(err.Error(), "driver.maxResultSize") {
			t.Errorf("driver.maxResultSize %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"1m", "-1", "x"} {
		if _, err := rdd.NewSession(rdd.WithMaster("local"), rdd.WithConf("memory.limit", bad)); err == nil || !strings.Contains(err.Error(), "memory.limit") {
			t.Errorf("memory.limit %q: %v", bad, err)
		}
	}
}

// A cached partition larger than the task's share of memory goes to disk
// (MemoryAndDisk) or is not cached (MemoryOnly, recomputed when needed):
// never out of memory.
func TestCacheLargerThanTheBudget(t *testing.T) {
	s := newSpillSession(t)
	ctx := context.Background()
	const n = 2_000_000 // 8 MB in each of two partitions
	want := int64(n) * (n - 1) / 2 * 3
	for _, tc := range []struct {
		level    rdd.StorageLevel
		computed int64 // times each element is computed over two jobs
	}{{rdd.MemoryAndDisk, 1}, {rdd.DiskOnly, 1}, {rdd.MemoryOnly, 2}} {
		computed := rdd.NewAccumulator[int64](s.Session, "computed")
		r := rdd.Map(rdd.Range(s.Session, 0, n, 2), func(i int64) int64 {
			computed.Add(1)
			return i * 3
		}).Persist(tc.level)
		for job := range 2 {
			if got, err := rdd.Sum(ctx, r); err != nil || got != want {
				t.Fatalf("%v, job %d: sum %d, %v; want %d", tc.level, job, got, err, want)
			}
		}
		if got := computed.Value(); got != tc.computed*n {
			t.Errorf("%v: elements computed %d times over two jobs, want %d", tc.level, got, tc.computed*n)
		}
		r.Unpersist()
	}
}

// A task that fails or is cancelled after spilling leaves no spill file.
func TestSpillFilesGoWithFailedAndCancelledTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("spills")
	}
	s := newSpillSession(t)
	pairs := func() *rdd.RDD[rdd.Pair[int64, int64]] {
		return rdd.Map(rdd.Range(s.Session, 0, 2_000_000, 4), func(i int64) rdd.Pair[int64, int64] {
			return rdd.Pair[int64, int64]{Key: i, Value: i}
		})
	}
	// Fails while it streams its output, after the spills.
	failing := rdd.Map(rdd.GroupByKey(pairs(), 2), func(g rdd.Pair[int64, []int64]) int64 {
		if g.Key%1_000 == 999 {
			panic("failing after the spills")
		}
		return g.Key
	})
	if _, err := failing.Count(context.Background()); err == nil {
		t.Fatal("a panicking task did not fail its job")
	}
	if s.takeSpilled() == 0 {
		t.Fatal("the failing job did not spill")
	}
	if left := s.leftovers(); len(left) > 0 {
		t.Errorf("a failed task left spill directories: %v", left)
	}

	// Cancelled once a task has spilled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := rdd.SortBy(rdd.Values(pairs()), func(v int64) int64 { return -v }, true, 2).Count(ctx)
		done <- err
	}()
	if !await.Until(60*time.Second, func() bool {
		for _, d := range s.leftovers() {
			if runs, _ := filepath.Glob(filepath.Join(d, "run-*")); len(runs) > 0 {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the sort wrote no spill run within a minute")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled sort: %v", err)
	}
	if left := s.leftovers(); len(left) > 0 {
		t.Errorf("a cancelled task left spill directories: %v", left)
	}
}

// A disk too small for the spills fails the job with an error naming the
// file it could not write; the session goes on.
func TestSpillOntoAFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	dir := mountTmpfs(t, "2m")
	s := newSession(t, rdd.WithMaster("local[2]"), rdd.WithConf("memory.limit", "8m"), rdd.WithConf("shuffle.dir", dir))
	ctx := context.Background()
	big := rdd.Map(rdd.Range(s, 0, 3_000_000, 2), func(i int64) int64 { return (i * 7_919) % 3_000_000 })
	_, err := rdd.SortBy(big, func(v int64) int64 { return v }, true, 2).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a sort spilling onto a 2 MiB disk: %v; want the full disk named", err)
	}
	if n, err := rdd.Range(s, 0, 1000, 2).Count(ctx); err != nil || n != 1000 {
		t.Errorf("after the full disk: %d, %v", n, err)
	}
}

// A map task whose keys barely repeat stops combining them and sends them
// on; the answer is the same.
func TestReduceByKeyOfDistinctKeys(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	pairs := skewedPairs(9, 300_000, 1_000_000, 50) // mostly distinct, one hot key
	want := map[int64]int64{}
	for _, kv := range pairs {
		want[kv.Key] += kv.Value
	}
	got, err := rdd.CollectAsMap(context.Background(), rdd.ReduceByKey(rdd.Parallelize(s, pairs, 1), func(a, b int64) int64 { return a + b }, 3))
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("ReduceByKey of mostly distinct keys: %d keys, %v; want %d", len(got), err, len(want))
	}
}

// sortOnCluster sorts n scattered int64s and counts them.
var sortOnCluster = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	xs := rdd.Map(rdd.Range(s, 0, n, 4), func(i int64) int64 { return (i * 7_919) % n })
	return rdd.SortBy(xs, func(x int64) int64 { return x }, true, 2).Count(ctx)
})

// An executor whose work directory fills up fails the tasks that spill
// there, with an error naming the file, and stays up to serve the next
// job.
func TestExecutorWithAFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs and starts executor processes")
	}
	dir := mountTmpfs(t, "4m")
	// A local cluster's executors work under the temporary directory.
	t.Setenv("TMPDIR", dir)
	s := newSession(t, rdd.WithMaster("local-cluster[2,1,16]"), rdd.WithConf("task.maxFailures", "2"))
	ctx := context.Background()
	before := s.Executors()
	_, err := sortOnCluster.Run(ctx, s, 3_000_000)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a sort of 24 MB on executors with 4 MiB of disk: %v; want the full disk named", err)
	}
	if n, err := sumTo.Run(ctx, s, 1_000); err != nil || n != 1_000*999/2 {
		t.Errorf("after the full disk: %d, %v", n, err)
	}
	if after := s.Executors(); !slices.Equal(after, before) {
		t.Errorf("executors %v after the full disk, %v before: want the same ones, still up", after, before)
	}
}

// mountTmpfs mounts a tmpfs of size on a directory of the test's, unmounted
// when the test ends, or skips the test where it cannot (not root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (run as root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// A join's hash table, sized from the row count and the values' fixed
// size, outgrows the task's share once the values' strings count: its
// pairs move into the spilling cogroup, and the answer is the same.
func TestJoinTableGivesWayToTheCogroup(t *testing.T) {
	ctx := context.Background()
	s := newSpillSession(t)
	const n = 40_000
	left := make([]rdd.Pair[int64, string], n)
	right := make([]rdd.Pair[int64, int64], n/2)
	want := int64(0)
	for i := range left {
		k := int64(i % (n / 4)) // four values per key
		left[i] = rdd.Pair[int64, string]{Key: k, Value: strings.Repeat(string(rune('a'+i%26)), 200+i%7)}
	}
	for i := range right {
		right[i] = rdd.Pair[int64, int64]{Key: int64(i * 3 % (n / 2)), Value: int64(i)}
	}
	byKey := map[int64][]string{}
	for _, kv := range left {
		byKey[kv.Key] = append(byKey[kv.Key], kv.Value)
	}
	match := func(k int64, v string, w int64) int64 { return (k + 1) * (int64(len(v))*1_000_003 + int64(v[0]) + w) }
	for _, kw := range right {
		for _, v := range byKey[kw.Key] {
			want += match(kw.Key, v, kw.Value)
		}
	}
	joined := rdd.Join(rdd.Parallelize(s.Session, left, 3), rdd.Parallelize(s.Session, right, 2), 2)
	got, err := rdd.Map(joined, func(kv rdd.Pair[int64, rdd.Pair[string, int64]]) int64 {
		return match(kv.Key, kv.Value.Key, kv.Value.Value)
	}).Reduce(ctx, func(x, y int64) int64 { return x + y })
	if err != nil || got != want {
		t.Fatalf("Join of long strings in an 8 MiB budget: %d, %v; want %d", got, err, want)
	}
	if s.takeSpilled() == 0 {
		t.Error("the join spilled nothing: its table never gave way")
	}
	if left := s.leftovers(); len(left) > 0 {
		t.Errorf("spill directories left behind: %v", left)
	}
}
