package rdd_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ember-go/ember/rdd"
)

// mixArgs parameterizes mixPipeline: the data are generated from Seed on
// every process, as a pipeline's inputs must be.
type mixArgs struct {
	N, Parts, Reducers int
	Seed               uint64
}

// mixResult is everything mixPipeline computes, compared between masters.
type mixResult struct {
	Dot       float64
	Products  []float64
	Count     int64
	Words     map[string]int64
	Joined    []rdd.Pair[int, rdd.Pair[string, int]]
	Sorted    []int64
	Top       []int64
	Scaled    float64 // uses the result of an earlier job of the pipeline
	Aggregate rdd.Stats
}

func mixData(a mixArgs) (xs, ys []float64, words []string) {
	rng := rand.New(rand.NewPCG(a.Seed, 7))
	vocab := []string{"spark", "ember", "go", "arrow", "the", "a"}
	for range a.N {
		xs = append(xs, float64(rng.IntN(100)))
		ys = append(ys, float64(rng.IntN(100)))
		// Skewed keys: "the" is most of the text.
		if rng.IntN(3) == 0 {
			words = append(words, vocab[rng.IntN(len(vocab))])
		} else {
			words = append(words, "the")
		}
	}
	return xs, ys, words
}

var mixPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, a mixArgs) (mixResult, error) {
	var out mixResult
	xs, ys, words := mixData(a)
	x := rdd.Parallelize(s, xs, a.Parts)
	y := rdd.Parallelize(s, ys, a.Parts)
	products := rdd.Map(rdd.Zip(x, y), func(p rdd.Pair[float64, float64]) float64 { return p.Key * p.Value })
	var err error
	if out.Dot, err = products.Reduce(ctx, func(a, b float64) float64 { return a + b }); err != nil && !errors.Is(err, rdd.ErrEmpty) {
		return out, err
	}
	if out.Products, err = products.Collect(ctx); err != nil {
		return out, err
	}
	if out.Count, err = products.Filter(func(v float64) bool { return v > 2500 }).Count(ctx); err != nil {
		return out, err
	}
	pairs := rdd.Map(rdd.Parallelize(s, words, a.Parts), func(w string) rdd.Pair[string, int64] { return rdd.Pair[string, int64]{Key: w, Value: 1} })
	if out.Words, err = rdd.CollectAsMap(ctx, rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, a.Reducers)); err != nil {
		return out, err
	}
	ints := rdd.Range(s, 0, int64(a.N), a.Parts)
	left := rdd.Map(ints, func(i int64) rdd.Pair[int, string] {
		return rdd.Pair[int, string]{Key: int(i % 17), Value: fmt.Sprint(i)}
	})
	right := rdd.Map(ints.Filter(func(i int64) bool { return i%5 == 0 }), func(i int64) rdd.Pair[int, int] { return rdd.Pair[int, int]{Key: int(i % 17), Value: int(i)} })
	if out.Joined, err = rdd.Join(left, right, a.Reducers).Collect(ctx); err != nil {
		return out, err
	}
	shuffled := rdd.Map(ints, func(i int64) int64 { return (i * 7919) % 1000 })
	if out.Sorted, err = rdd.SortBy(shuffled, func(v int64) int64 { return v }, true, a.Reducers).Collect(ctx); err != nil {
		return out, err
	}
	if out.Top, err = shuffled.Top(ctx, 5, cmp.Compare[int64]); err != nil {
		return out, err
	}
	// A later job whose closures depend on an earlier job's result: the
	// executors must take the same path as the driver.
	mean := out.Dot / float64(max(a.N, 1))
	if out.Scaled, err = rdd.Sum(ctx, rdd.Map(products, func(v float64) float64 { return v - mean })); err != nil {
		return out, err
	}
	out.Aggregate, err = rdd.StatsOf(ctx, x)
	return out, err
})

// localMix computes mixPipeline's result in plain Go.
func localMix(a mixArgs) mixResult {
	xs, ys, words := mixData(a)
	var out mixResult
	for i := range xs {
		p := xs[i] * ys[i]
		out.Dot += p
		out.Products = append(out.Products, p)
		if p > 2500 {
			out.Count++
		}
	}
	out.Words = map[string]int64{}
	for _, w := range words {
		out.Words[w]++
	}
	for i := range a.N {
		if i%5 != 0 {
			continue
		}
		for j := range a.N {
			if j%17 == i%17 {
				out.Joined = append(out.Joined, rdd.Pair[int, rdd.Pair[string, int]]{Key: i % 17, Value: rdd.Pair[string, int]{Key: fmt.Sprint(j), Value: i}})
			}
		}
	}
	for i := range int64(a.N) {
		out.Sorted = append(out.Sorted, (i*7919)%1000)
	}
	slices.Sort(out.Sorted)
	out.Top = slices.Clone(out.Sorted[max(0, len(out.Sorted)-5):])
	slices.Reverse(out.Top)
	return out
}

func TestLocalClusterMatchesLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	ctx := context.Background()
	cluster := newSession(t, rdd.WithMaster("local-cluster[3]"))
	if got := len(cluster.Executors()); got != 3 {
		t.Fatalf("%d executors connected, want 3", got)
	}
	var mu sync.Mutex
	ranOn := map[string]int{}
	cluster.OnTaskEnd(func(ev rdd.TaskEvent) {
		mu.Lock()
		ranOn[ev.Executor]++
		mu.Unlock()
	})
	local := newSession(t, rdd.WithMaster("local[3]"))
	for _, a := range []mixArgs{
		{N: 2000, Parts: 7, Reducers: 3, Seed: 1},
		{N: 50, Parts: 9, Reducers: 1, Seed: 2}, // some partitions hold little
		{N: 0, Parts: 2, Reducers: 2, Seed: 3},  // empty RDDs
	} {
		t.Run(fmt.Sprintf("N=%d", a.N), func(t *testing.T) {
			want, err := mixPipeline.Run(ctx, local, a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mixPipeline.Run(ctx, cluster, a)
			if err != nil {
				t.Fatal(err)
			}
			ref := localMix(a)
			if want.Dot != ref.Dot || !slices.Equal(want.Products, ref.Products) || want.Count != ref.Count ||
				!maps.Equal(want.Words, ref.Words) || !slices.Equal(want.Sorted, ref.Sorted) || !slices.Equal(want.Top, ref.Top) {
				t.Fatalf("local mode differs from plain Go")
			}
			sortJoined := func(ps []rdd.Pair[int, rdd.Pair[string, int]]) {
				slices.SortFunc(ps, func(a, b rdd.Pair[int, rdd.Pair[string, int]]) int {
					return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Value.Key, b.Value.Key), cmp.Compare(a.Value.Value, b.Value.Value))
				})
			}
			sortJoined(ref.Joined)
			sortJoined(got.Joined)
			if !slices.Equal(got.Joined, ref.Joined) {
				t.Errorf("join: %d pairs on the cluster, %d in plain Go", len(got.Joined), len(ref.Joined))
			}
			got.Joined, want.Joined = nil, nil
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("cluster result differs from local mode:\n got %.300v\nwant %.300v", got, want)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranOn) < 2 {
		t.Errorf("tasks ran on %d executor(s), want at least 2: %v", len(ranOn), ranOn)
	}
}

var panicPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, n int) (int64, error) {
	r := rdd.Map(rdd.Range(s, 0, int64(n), 4), func(i int64) int64 {
		if i == 7 {
			panic("seven")
		}
		return i
	})
	return r.Count(ctx)
})

// recoverPipeline goes on after a failed job, on a path that depends on
// the failure: executors must replay the failure too.
var recoverPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, n int) (int64, error) {
	_, err := rdd.Map(rdd.Range(s, 0, 10, 2), func(i int64) int64 {
		if i == 3 {
			panic("three")
		}
		return i
	}).Count(ctx)
	offset := int64(0)
	if err != nil {
		offset = 100
	}
	return rdd.Sum(ctx, rdd.Map(rdd.Range(s, 0, int64(n), 3), func(i int64) int64 { return i + offset }))
})

func TestLocalClusterErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	ctx := context.Background()
	s := newSession(t, rdd.WithMaster("local-cluster[2]"), rdd.WithConf("task.maxFailures", "2"))

	// A graph built outside a registered pipeline cannot be rebuilt by
	// the executors: refused, with the fix.
	_, err := rdd.Range(s, 0, 10, 2).Count(ctx)
	if err == nil || !strings.Contains(err.Error(), "rdd.Func") || !strings.Contains(err.Error(), "cluster_test.go:") {
		t.Errorf("job outside a pipeline: %v", err)
	}

	// A panic on an executor comes back as the job's error, naming the RDD
	// and its creation site.
	_, err = panicPipeline.Run(ctx, s, 20)
	var pe *rdd.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "seven") || !strings.Contains(pe.Where, "cluster_test.go:") {
		t.Errorf("panic on an executor: %v", err)
	}
	// The session still works after a failed job.
	n, err := panicPipeline.Run(ctx, s, 5)
	if err != nil || n != 5 {
		t.Errorf("after a failed job: %d, %v", n, err)
	}
	// A pipeline that goes on after a failed job.
	if sum, err := recoverPipeline.Run(ctx, s, 10); err != nil || sum != 45+100*10 {
		t.Errorf("a pipeline that recovers from a failed job: %d, %v; want %d", sum, err, 45+100*10)
	}
}

var cachedPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, parts int) ([]int64, error) {
	cached := rdd.Map(rdd.Range(s, 0, 10_000, parts), func(i int64) int64 { return i * 2 }).Cache()
	var counts []int64
	for range 3 {
		n, err := rdd.Map(cached, func(i int64) int64 { return i + 1 }).Count(ctx)
		if err != nil {
			return nil, err
		}
		counts = append(counts, n)
	}
	return counts, nil
})

func TestLocalClusterLocality(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[2,2]"))
	var mu sync.Mutex
	ranOn := map[int]map[int]string{} // stage → partition → executor
	s.OnTaskEnd(func(ev rdd.TaskEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ranOn[ev.StageID] == nil {
			ranOn[ev.StageID] = map[int]string{}
		}
		ranOn[ev.StageID][ev.Partition] = ev.Executor
	})
	counts, err := cachedPipeline.Run(context.Background(), s, 12)
	if err != nil || !slices.Equal(counts, []int64{10_000, 10_000, 10_000}) {
		t.Fatalf("counts %v, %v", counts, err)
	}
	mu.Lock()
	defer mu.Unlock()
	stages := slices.Sorted(maps.Keys(ranOn))
	if len(stages) != 3 {
		t.Fatalf("%d stages ran, want 3: %v", len(stages), ranOn)
	}
	first := ranOn[stages[0]]
	if len(slices.Compact(slices.Sorted(maps.Values(first)))) < 2 {
		t.Errorf("the cached partitions were all computed on one executor: %v", first)
	}
	for _, st := range stages[1:] {
		if !maps.Equal(ranOn[st], first) {
			t.Errorf("stage %d ran its tasks on %v, not where their cached input is: %v", st, ranOn[st], first)
		}
	}
}

func TestLocalClusterMemoryTooSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	// The executor offers the 512 MiB its master gives it.
	_, err := rdd.NewSession(rdd.WithMaster("local-cluster[1,1,512]"), rdd.WithConf("executor.memory", "64g"),
		rdd.WithConf("cluster.executorWait", "2s"))
	if err == nil || !strings.Contains(err.Error(), "64g") || !strings.Contains(err.Error(), "offers 512m") {
		t.Fatalf("a session that needs more memory than any executor has: %v", err)
	}
}

type accResult struct {
	Seen    int64
	Sum     float64
	Evens   int64
	Counted int64
	Once    int64
}

type accArgs struct {
	N      int
	Marker string // created by the attempt that fails halfway
}

var accPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, a accArgs) (accResult, error) {
	n := a.N
	seen := rdd.NewAccumulator[int64](s, "seen")
	sum := rdd.NewAccumulator[float64](s, "sum")
	evens := rdd.NewAccumulator[int64](s, "evens")
	r := rdd.Map(rdd.Range(s, 0, int64(n), 7), func(i int64) int64 {
		seen.Add(1)
		return i
	})
	counted, err := r.Count(ctx)
	if err != nil {
		return accResult{}, err
	}
	err = r.Foreach(ctx, func(i int64) {
		sum.Add(float64(i) / 2)
		if i%2 == 0 {
			evens.Add(1)
		}
	})
	if err != nil {
		return accResult{}, err
	}
	// An action whose task fails halfway once: what the failed attempt
	// added must not count.
	once := rdd.NewAccumulator[int64](s, "once")
	err = rdd.Range(s, 0, int64(n), 4).Foreach(ctx, func(i int64) {
		once.Add(1)
		if i == int64(n)/2 && s.OnExecutor() {
			if f, err := os.OpenFile(a.Marker, os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				f.Close()
				panic("the first attempt fails halfway")
			}
		}
	})
	return accResult{seen.Value(), sum.Value(), evens.Value(), counted, once.Value()}, err
})

func TestLocalClusterAccumulators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[3]"))
	marker := filepath.Join(t.TempDir(), "failed")
	got, err := accPipeline.Run(context.Background(), s, accArgs{N: 10_001, Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("no attempt failed")
	}
	// Count and Foreach each compute the Map once per element; the
	// failed attempt's additions do not count.
	want := accResult{Seen: 2 * 10_001, Sum: 10_000 * 10_001 / 4.0, Evens: 5_001, Counted: 10_001, Once: 10_001}
	if got != want {
		t.Errorf("accumulators on a cluster: %+v, want %+v", got, want)
	}
}

var remoteCachePipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, n int) (int64, error) {
	computed := rdd.NewAccumulator[int64](s, "computed")
	cached := rdd.Map(rdd.Range(s, 0, int64(n), 8), func(i int64) int64 {
		computed.Add(1)
		return i
	}).Cache()
	// Enough jobs that some partition lands elsewhere than where it was
	// cached, even when the placement of tasks keeps repeating itself.
	for range 12 {
		sum, err := rdd.Sum(ctx, cached)
		if err != nil {
			return 0, err
		}
		if want := int64(n) * int64(n-1) / 2; sum != want {
			return 0, fmt.Errorf("sum %d, want %d", sum, want)
		}
	}
	return computed.Value(), nil
})

// Without waiting for locality, tasks often run on the executor that does
// not hold their cached input: they read it from the other one over Flight
// instead of computing it again.
func TestLocalClusterReadsCachedBlocksRemotely(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[2]"), rdd.WithConf("locality.wait", "-1ms"))
	var mu sync.Mutex
	ranOn := map[int]map[string]bool{} // partition → executors
	s.OnTaskEnd(func(ev rdd.TaskEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ranOn[ev.Partition] == nil {
			ranOn[ev.Partition] = map[string]bool{}
		}
		ranOn[ev.Partition][ev.Executor] = true
	})
	computed, err := remoteCachePipeline.Run(context.Background(), s, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if computed != 1000 {
		t.Errorf("the cached RDD's elements were computed %d times, want 1000 (once each)", computed)
	}
	mu.Lock()
	defer mu.Unlock()
	moved := 0
	for _, execs := range ranOn {
		if len(execs) > 1 {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no partition was read on another executor than the one that cached it: %v", ranOn)
	}
}

type killArgs struct {
	N      int64
	Marker string // created by the task that kills its executor
}

// killPipeline's tasks kill their own executor process once, in the middle
// of the first job: the job must finish on the other executors.
var killPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, a killArgs) (int64, error) {
	r := rdd.Map(rdd.Range(s, 0, a.N, 6), func(i int64) int64 {
		if i == a.N/2 && s.OnExecutor() {
			if f, err := os.OpenFile(a.Marker, os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				f.Close()
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		return i
	})
	pairs := rdd.Map(r, func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 10, Value: i} })
	sums, err := rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 3).Collect(ctx)
	var total int64
	for _, p := range sums {
		total += p.Value
	}
	return total, err
})

func TestLocalClusterSurvivesAKilledExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[3]"))
	marker := filepath.Join(t.TempDir(), "killed")
	got, err := killPipeline.Run(context.Background(), s, killArgs{N: 100_000, Marker: marker})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(100_000) * 99_999 / 2; got != want {
		t.Errorf("sum %d, want %d", got, want)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no executor was killed: %v", err)
	}
	if n := len(s.Executors()); n != 2 {
		t.Errorf("%d executors after one was killed, want 2", n)
	}
}

func TestClusterSeedsUnreachable(t *testing.T) {
	_, err := rdd.NewSession(rdd.WithMaster("ember://127.0.0.1:1"), rdd.WithConf("cluster.executorWait", "1s"),
		rdd.WithConf("cluster.bind", "127.0.0.1:0"))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable seeds: %v", err)
	}
}

// driverAddsPipeline adds to an accumulator on the driver, between jobs:
// executors, which run that code again to rebuild the later job, must not
// count it again.
var driverAddsPipeline = rdd.Func(func(ctx context.Context, s *rdd.Session, n int) (int64, error) {
	acc := rdd.NewAccumulator[int64](s, "acc")
	r := rdd.Range(s, 0, int64(n), 4)
	c, err := r.Count(ctx)
	if err != nil {
		return 0, err
	}
	acc.Add(c)
	err = r.Foreach(ctx, func(int64) { acc.Add(1) })
	return acc.Value(), err
})

func TestLocalClusterAccumulatorsIgnoreReplayedDriverCode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	ctx := context.Background()
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))
		if got, err := driverAddsPipeline.Run(ctx, s, 100); err != nil || got != 200 {
			t.Errorf("%s: %d, %v; want 200", master, got, err)
		}
	}
}

var sumTo = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	return rdd.Sum(ctx, rdd.Range(s, 0, n, 3))
})

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The program itself started as an executor (EMBER_EXECUTOR), and two
// sessions of it in a row on that executor: they must not mix up their
// jobs there.
func TestClusterSessionsInARow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	gossip := freeAddr(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "EMBER_EXECUTOR=1", "EMBER_BIND="+gossip, "EMBER_RPC_BIND=127.0.0.1:0",
		"EMBER_CORES=2", "EMBER_GOSSIP_PROFILE=local", "EMBER_LOG_LEVEL=warn", "EMBER_WORK_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the executor exited with %v after SIGTERM", err)
		}
	})
	ctx := context.Background()
	for _, n := range []int64{30, 40} {
		s := newSession(t, rdd.WithMaster("ember://"+gossip), rdd.WithConf("cluster.executorWait", "20s"))
		if got, err := sumTo.Run(ctx, s, n); err != nil || got != n*(n-1)/2 {
			t.Errorf("sum to %d: %d, %v", n, got, err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}
