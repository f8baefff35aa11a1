package rdd_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/rdd"
	"github.com/ember-go/ember/scheduler"
)

// State that the tests set on the driver alone: executors run this
// binary's TestMain and no test, so theirs stays as it starts.
var (
	driverNumbers []int64 // filled by the test
	evensOnly     bool    // set by the test
)

// sumDriverNumbers sums a slice that only the driver filled: executors
// must compute on the driver's data, not on their own empty copy.
var sumDriverNumbers = rdd.Func(func(ctx context.Context, s *rdd.Session, parts int) (int64, error) {
	return rdd.Sum(ctx, rdd.Parallelize(s, driverNumbers, parts))
})

// sumSquares adds a Filter only when a flag set on the driver says so: an
// executor, whose flag is false, builds another graph.
var sumSquares = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	r := rdd.Range(s, 0, n, 4)
	if evensOnly {
		r = r.Filter(func(x int64) bool { return x%2 == 0 })
	}
	return rdd.Sum(ctx, rdd.Map(r, func(x int64) int64 { return x * x }))
})

// broadcastThenChange changes a broadcast value after NewBroadcast: tasks
// see it as it was (Spark's DistributedSuite "broadcast variables"). The
// value also comes from the driver's state.
var broadcastThenChange = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	weights := append([]int64(nil), driverNumbers...)
	b := rdd.NewBroadcast(s, weights)
	if len(weights) > 0 {
		weights[0] = 1000 // after the broadcast: not seen
	}
	return rdd.Sum(ctx, rdd.Map(rdd.Range(s, 0, n, 3), func(x int64) int64 { return b.Value()[x%int64(len(b.Value()))] }))
})

func TestDriverStateTravelsOrFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	driverNumbers = make([]int64, 1000)
	for i := range driverNumbers {
		driverNumbers[i] = int64(i)
	}
	evensOnly = true
	t.Cleanup(func() { driverNumbers, evensOnly = nil, false })
	ctx := context.Background()
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))

		// Values from the driver travel: the right answer everywhere.
		if got, err := sumDriverNumbers.Run(ctx, s, 4); err != nil || got != 499500 {
			t.Errorf("%s: sum of the driver's numbers: %d, %v; want 499500", master, got, err)
		}
		// Sum of weights[x%1000] for x < 3000, weights as broadcast: 3 × 499500.
		if got, err := broadcastThenChange.Run(ctx, s, 3000); err != nil || got != 3*499500 {
			t.Errorf("%s: a broadcast changed after creation: %d, %v; want %d", master, got, err, 3*499500)
		}

		// A graph that depends on the driver's state: right locally, an
		// error that says why on a cluster; never the unfiltered 332833500.
		got, err := sumSquares.Run(ctx, s, 1000)
		if master == "local[2]" {
			if err != nil || got != 166167000 {
				t.Errorf("%s: sum of even squares: %d, %v; want 166167000", master, got, err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("%s: a graph rebuilt otherwise on executors gave %d and no error", master, got)
		}
		for _, want := range []string{"another graph", "Filter", "trust_test.go", "pipeline's argument"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", master, err, want)
			}
		}
		if n := strings.Count(err.Error(), "built another graph"); n > 1 {
			t.Errorf("%s: the error repeats itself %d times; a permanent error is not retried:\n%v", master, n, err)
		}
	}
}

// A pipeline registered from a function body, or after rdd.Init, is
// refused when it runs, at once and on every master, with the fix.
func TestRegistrationMistakes(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	ctx := context.Background()
	ran := false
	body := func(ctx context.Context, s *rdd.Session, n int64) (int64, error) { ran = true; return n, nil }
	for _, tc := range []struct {
		initDone bool
		want     string
	}{{true, "after rdd.Init"}, {false, "from a function body"}} {
		was := rdd.SetInitialized(tc.initDone)
		p := rdd.Func(body)
		rdd.SetInitialized(was)
		_, err := p.Run(ctx, s, 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "package-level variable") || !strings.Contains(err.Error(), "trust_test.go") {
			t.Errorf("registered %s: Run gave %v; want an error saying so, where, and how to fix it", tc.want, err)
		}
	}
	if ran {
		t.Error("a pipeline that was not registered ran")
	}
}

// nestedAction runs an action inside a task (Spark's SPARK-5063 test
// "actions cannot be performed inside of transformations").
var nestedAction = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	inner := rdd.Range(s, 0, 10, 2)
	return rdd.Sum(ctx, rdd.Map(rdd.Range(s, 0, n, 4), func(x int64) int64 {
		c, err := inner.Count(ctx)
		if err != nil {
			panic(err)
		}
		return x + c
	}))
})

// An action inside a task fails at once with an error that says why,
// instead of waiting for slots that the outer tasks hold.
func TestNestedActionFails(t *testing.T) {
	masters := []string{"local[1]", "local[2]"}
	if !testing.Short() {
		masters = append(masters, "local-cluster[2]")
	}
	for _, master := range masters {
		s := newSession(t, rdd.WithMaster(master))
		// The bound only turns a deadlock into a failure of this test.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		got, err := nestedAction.Run(ctx, s, 100)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "cannot run inside a task") || !strings.Contains(err.Error(), "SPARK-5063") {
			t.Errorf("%s: an action inside a task gave %d, %v; want the nested action's error", master, got, err)
		}
	}
}

// Smaller semantics, as Spark's: a subtraction keeps the left side's
// partition count; an RDD built on a closed session says so.
func TestSubtractPartitionsAndClosedSession(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	a, b := rdd.Range(s, 0, 100, 7), rdd.Range(s, 0, 50, 3)
	if n := rdd.Subtract(a, b, 0).NumPartitions(); n != 7 {
		t.Errorf("Subtract of 7 and 3 partitions has %d, want 7 (the left side's)", n)
	}
	ka := rdd.KeyBy(a, func(x int64) int64 { return x })
	kb := rdd.KeyBy(rdd.Range(s, 0, 50, 11), func(x int64) int64 { return x })
	if n := rdd.SubtractByKey(ka, kb, 0).NumPartitions(); n != 7 {
		t.Errorf("SubtractByKey of 7 and 11 partitions has %d, want 7 (the left side's)", n)
	}
	if got := collect(t, rdd.Subtract(a, b, 0)); len(got) != 50 {
		t.Errorf("Subtract: %d elements, want 50", len(got))
	}
	s.Close()
	r := rdd.Range(s, 0, 10, 2)
	if err := r.Err(); !errors.Is(err, rdd.ErrSessionClosed) {
		t.Errorf("an RDD built on a closed session: Err() = %v, want ErrSessionClosed", err)
	}
	if _, err := r.Count(context.Background()); !errors.Is(err, rdd.ErrSessionClosed) {
		t.Errorf("an action on it: %v, want ErrSessionClosed", err)
	}
}

// A task that panics the same way in every attempt tells the panic, with
// its stack, once, not once per attempt.
func TestSamePanicToldOnce(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"), rdd.WithConf("task.maxFailures", "4"))
	r := rdd.Map(rdd.Range(s, 0, 10, 2), func(x int64) int64 {
		if x == 7 {
			panic("the same every time")
		}
		return x
	})
	_, err := r.Collect(context.Background())
	if err == nil {
		t.Fatal("no error from a panicking map function")
	}
	msg := err.Error()
	if n := strings.Count(msg, "the same every time"); n != 1 {
		t.Errorf("the panic is told %d times, want once:\n%s", n, msg)
	}
	for _, want := range []string{"failed after 4 attempt(s), every one the same way", "trust_test.go:", "goroutine"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// What a failed attempt added to an accumulator is dropped, in local mode
// too (Spark's AccumulatorSuite "internal accumulators in fully / partially
// resubmitted stages"): each of 10 tasks adds 1, the first attempts of
// all or some of them fail, and the accumulator ends at 10.
func TestAccumulatorsDropFailedAttempts(t *testing.T) {
	ctx := context.Background()
	for name, fails := range map[string]func(p int) bool{
		"fully":     func(int) bool { return true },
		"partially": func(p int) bool { return p%2 == 0 },
	} {
		s := newSession(t, rdd.WithMaster("local[1]"))
		perTask := rdd.NewAccumulator[int64](s, "per task")
		perElement := rdd.NewAccumulator[float64](s, "per element")
		var tries [10]atomic.Int32
		failing := rdd.MapPartitions(rdd.Range(s, 1, 101, 10), func(p int, in iter.Seq[int64]) iter.Seq[int64] {
			perTask.Add(1)
			if fails(p) && tries[p].Add(1) == 1 {
				panic("failing a task intentionally")
			}
			return in
		})
		if n, err := failing.Count(ctx); err != nil || n != 100 || perTask.Value() != 10 {
			t.Errorf("%s resubmitted: count %d, %v; the accumulator says %d tasks ran, want 10", name, n, err, perTask.Value())
		}
		tries = [10]atomic.Int32{}
		err := rdd.Range(s, 0, 100, 10).Foreach(ctx, func(x int64) {
			perElement.Add(0.5)
			if fails(int(x/10)) && x%10 == 9 && tries[x/10].Add(1) == 1 {
				panic("failing a task after its elements")
			}
		})
		if err != nil || perElement.Value() != 50 {
			t.Errorf("%s resubmitted Foreach: %v; the accumulator says %v, want 50 (0.5 per element, once)", name, err, perElement.Value())
		}
	}
}

// betweenJobs, set by a test on the driver, runs between diskCachedTwice's
// jobs.
var betweenJobs func()

// diskCachedTwice sums a DiskOnly RDD twice: the second job reads what the
// first cached, unless it was lost in between.
var diskCachedTwice = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([]int64, error) {
	r := rdd.Map(rdd.Range(s, 0, n, 4), func(x int64) int64 { return 2 * x }).Persist(rdd.DiskOnly)
	first, err := rdd.Sum(ctx, r)
	if err != nil {
		return nil, err
	}
	if !s.OnExecutor() && betweenJobs != nil {
		betweenJobs()
	}
	second, err := rdd.Sum(ctx, r)
	return []int64{first, second}, err
})

// A DiskOnly partition whose file vanished or is damaged is recomputed
// from lineage (SPARK-15736), not a failure of every attempt.
func TestLostDiskBlocksAreRecomputed(t *testing.T) {
	masters := []string{"local[2]"}
	if !testing.Short() {
		masters = append(masters, "local-cluster[2]")
	}
	for _, master := range masters {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp) // the block files of the session go under it
		s := newSession(t, rdd.WithMaster(master))
		damaged := 0
		betweenJobs = func() {
			damaged = damageBlockFiles(t, tmp)
		}
		got, err := diskCachedTwice.Run(context.Background(), s, 1000)
		betweenJobs = nil
		if err != nil || len(got) != 2 || got[0] != 999000 || got[1] != 999000 {
			t.Errorf("%s: sums %v, %v; want 999000 twice", master, got, err)
		}
		if damaged < 2 {
			t.Errorf("%s: damaged %d block files, want at least 2 (one removed, one corrupt): the test did not reach the cache", master, damaged)
		}
		s.Close()
	}
}

// damageBlockFiles removes the first cached block file under dir and
// truncates the others, and returns how many it damaged.
func damageBlockFiles(t *testing.T, dir string) int {
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "rdd_") {
			files = append(files, path)
		}
		return nil
	})
	for i, f := range files {
		var err error
		if i == 0 {
			err = os.Remove(f)
		} else {
			err = os.Truncate(f, 10)
		}
		if err != nil {
			t.Error(err)
		}
	}
	return len(files)
}

// localExecutors returns the pids of the executor processes this process
// started (a local cluster's), by their environment.
func localExecutors(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to find the executor processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The parent's pid is the second field after the command's
		// closing parenthesis.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if bytes.Contains(env, []byte("EMBER_EXECUTOR=1")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A local cluster replaces an executor that exits, as Spark's standalone
// workers relaunch theirs: a session survives all its executors being
// killed one after another, one of them during a job (Spark's
// DistributedSuite "recover from node failures").
func TestLocalClusterReplacesExecutors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[2, 1, 512]"))
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		if got, err := sumTo.Run(ctx, s, 10_000); err != nil || got != 10_000*9_999/2 {
			t.Fatalf("%s: sum %d, %v; want %d", when, got, err, 10_000*9_999/2)
		}
	}
	check("at start")
	originals := localExecutors(t)
	if len(originals) != 2 {
		t.Fatalf("found %d executor processes of local-cluster[2], want 2", len(originals))
	}
	names := s.Executors()

	// The first dies during a job: when its first task has ended.
	var once sync.Once
	s.OnTaskEnd(func(rdd.TaskEvent) {
		once.Do(func() { syscall.Kill(originals[0], syscall.SIGKILL) })
	})
	check("with an executor killed during the job")
	// The second dies between jobs.
	syscall.Kill(originals[1], syscall.SIGKILL)
	if !await.Until(30*time.Second, func() bool {
		now := s.Executors()
		return len(now) == 2 && !slices.Contains(now, names[0]) && !slices.Contains(now, names[1])
	}) {
		t.Fatalf("executors %v after both of %v were killed; want two new ones", s.Executors(), names)
	}
	check("with none of the original executors left")
	for _, pid := range localExecutors(t) {
		if slices.Contains(originals, pid) {
			t.Errorf("executor process %d was killed but still runs", pid)
		}
	}
}

// crashEveryTime exits the process that runs its task, in every attempt.
var crashEveryTime = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	return rdd.Map(rdd.Range(s, 0, n, 1), func(i int64) int64 {
		os.Exit(3)
		return i
	}).Count(ctx)
})

// A task that crashes every executor it runs on fails its job after
// task.maxFailures attempts, as in Spark, and says so; executors killed
// from outside do not count against a task (TestLocalClusterReplacesExecutors).
func TestTaskThatCrashesItsExecutors(t *testing.T) {
	if testing.Short() {
		t.Skip("crashes executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[2]"), rdd.WithConf("task.maxFailures", "3"))
	ctx := context.Background()
	_, err := crashEveryTime.Run(ctx, s, 5)
	var te *scheduler.TaskError
	if !errors.As(err, &te) || len(te.Attempts) != 3 || !errors.Is(err, scheduler.ErrExitCausedByTask) ||
		!strings.Contains(err.Error(), "failed after 3 attempt(s)") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("a task that exits its executor every time: %v; want it to fail after 3 attempts (task.maxFailures), saying how the executors exited", err)
	}
	// The session goes on, on executors that replaced the crashed ones.
	if got, err := sumTo.Run(ctx, s, 1_000); err != nil || got != 1_000*999/2 {
		t.Fatalf("after the crashes: sum %d, %v; want %d", got, err, 1_000*999/2)
	}
}

// destroyThenUse uses a broadcast, destroys it, and uses it again in a
// task (Spark's "Using broadcast after destroy prints callsite"): the
// second job fails, on every master.
var destroyThenUse = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	b := rdd.NewBroadcast(s, []int64{1, 2, 3})
	weigh := func(x int64) int64 { return b.Value()[x%3] }
	first, err := rdd.Sum(ctx, rdd.Map(rdd.Range(s, 0, n, 3), weigh))
	if err != nil {
		return 0, err
	}
	b.Destroy()
	second, err := rdd.Sum(ctx, rdd.Map(rdd.Range(s, 0, n, 3), weigh))
	return first + second, err
})

func TestBroadcastDestroy(t *testing.T) {
	masters := []string{"local[2]"}
	if !testing.Short() {
		masters = append(masters, "local-cluster[2]")
	}
	for _, master := range masters {
		s := newSession(t, rdd.WithMaster(master), rdd.WithConf("task.maxFailures", "1"))
		_, err := destroyThenUse.Run(context.Background(), s, 30)
		if err == nil || !strings.Contains(err.Error(), "used after Destroy") {
			t.Errorf("%s: a broadcast used after Destroy: %v; want the task to fail saying so", master, err)
		}
	}
}
