package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ember-go/ember/examples/dotproduct"
	"github.com/ember-go/ember/examples/pagerank"
	"github.com/ember-go/ember/examples/wordcount"
	"github.com/ember-go/ember/rdd"
)

// Config says how much chaos to make.
type Config struct {
	// Binary is the ember CLI, started as `ember executor`; the program
	// that calls Run must be the same build, so that the executors run
	// its pipelines.
	Binary string
	// Dir holds the executors' files and the jobs' outputs.
	Dir string
	// Executors run at once at the start; killed ones are replaced, so
	// the cluster stays near this size.
	Executors, Cores int
	// Jobs and Kills are the least the run does of each.
	Jobs, Kills int
	// KillEvery is the mean time between kills.
	KillEvery time.Duration
	Seed      uint64
	// Log receives a line per job and per kill; nil discards them.
	Log io.Writer
}

// Report is what a run did.
type Report struct {
	Jobs, Kills, Starts int
	ByKind              map[string]int
	Mismatches          []string // jobs whose result differed from local mode
	Elapsed             time.Duration
}

// Run starts a cluster, runs the job mix on it while killing executors,
// and compares every result with local mode's. It returns an error if a
// job failed or gave another result.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	r := &mixRun{logger: logger{w: cfg.Log}, cfg: cfg, jobs: mix(cfg.Dir), rep: Report{ByKind: map[string]int{}}}
	var err error
	if r.want, err = localResults(ctx, r.jobs); err != nil {
		return r.rep, err
	}
	cluster, s, stop, err := startWithSession(ctx, cfg, rdd.WithConf("cluster.executorWait", "20s"), rdd.WithConf("default.parallelism", "6"))
	if err != nil {
		return r.rep, err
	}
	defer stop()
	r.cluster, r.s = cluster, s
	r.logf("cluster of %d executors up; local results computed in %v", cfg.Executors, time.Since(start).Round(time.Millisecond))

	kctx, stopKilling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { r.killer(kctx) })
	err = r.runJobs(ctx)
	stopKilling()
	wg.Wait()
	r.rep.Elapsed = time.Since(start)
	if err == nil {
		err = r.mismatches()
	}
	return r.rep, err
}

// localResults returns what local mode says of each job.
func localResults(ctx context.Context, jobs []job) ([]string, error) {
	want := make([]string, len(jobs))
	err := inLocalMode(func(local *rdd.Session) (err error) {
		for i, j := range jobs {
			if want[i], err = j.run(ctx, local, "local"); err != nil {
				return fmt.Errorf("%s in local mode: %w", j.name, err)
			}
		}
		return nil
	})
	return want, err
}

// A mixRun is the job mix running on a cluster while a killer goroutine
// kills and starts executors; the two share the report under mu.
type mixRun struct {
	logger
	cfg     Config
	jobs    []job
	want    []string // local mode's results, by job
	cluster *Cluster
	s       *rdd.Session

	mu      sync.Mutex
	rep     Report
	killErr error // why the killer stopped before the end
}

// runJobs runs the jobs of the mix in turn until there have been enough
// of them and enough kills, or a job or the killer failed.
func (r *mixRun) runJobs(ctx context.Context) error {
	for i := 0; ; i++ {
		if done, err := r.done(); done || err != nil {
			return err
		}
		if err := r.runJob(ctx, i); err != nil {
			return err
		}
	}
}

// done reports whether the run has done what it should, and returns the
// killer's error, if any.
func (r *mixRun) done() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rep.Jobs >= r.cfg.Jobs && r.rep.Kills >= r.cfg.Kills, r.killErr
}

// runJob runs the i-th job and records whether its result was local
// mode's.
func (r *mixRun) runJob(ctx context.Context, i int) error {
	k := i % len(r.jobs)
	j := r.jobs[k]
	start := time.Now()
	got, err := j.run(ctx, r.s, fmt.Sprintf("job-%d", i))
	if err != nil {
		return fmt.Errorf("job %d (%s) failed: %w", i, j.name, err)
	}
	r.mu.Lock()
	r.rep.Jobs++
	r.rep.ByKind[j.name]++
	if got != r.want[k] {
		r.rep.Mismatches = append(r.rep.Mismatches, fmt.Sprintf("job %d (%s): %.200s, local mode: %.200s", i, j.name, got, r.want[k]))
	}
	r.mu.Unlock()
	r.logf("job %d: %s ok in %v", i, j.name, time.Since(start).Round(time.Millisecond))
	return nil
}

// mismatches returns an error listing the jobs whose result differed from
// local mode's, if any did.
func (r *mixRun) mismatches() error {
	if len(r.rep.Mismatches) == 0 {
		return nil
	}
	return fmt.Errorf("%d job(s) differ from local mode: %s", len(r.rep.Mismatches), strings.Join(r.rep.Mismatches, "; "))
}

// killer sends a SIGKILL to a random live executor now and then, never the
// last one, and starts a new executor in its place most times, until ctx
// is done. It stops early if an executor fails to die or to start, and
// leaves the error for runJobs.
func (r *mixRun) killer(ctx context.Context) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 99))
	for {
		wait := time.Duration(float64(r.cfg.KillEvery) * (0.5 + rng.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := r.killOne(rng); err != nil {
			r.fail(err)
			return
		}
		if err := r.refill(ctx, rng); err != nil {
			// A start cut short by the end of the run is no failure.
			if ctx.Err() == nil {
				r.fail(err)
			}
			return
		}
	}
}

// killOne kills a random live executor, unless it is the last one.
func (r *mixRun) killOne(rng *rand.Rand) error {
	live := r.cluster.Live()
	if len(live) < 2 {
		return nil
	}
	victim := live[rng.IntN(len(live))]
	if err := r.cluster.Kill(victim); err != nil {
		return err
	}
	r.mu.Lock()
	r.rep.Kills++
	n := r.rep.Kills
	r.mu.Unlock()
	r.logf("kill %d: %s (SIGKILL); executors left: %d", n, victim.Name, len(live)-1)
	return nil
}

// refill starts new executors while the cluster is short of its size,
// each with a chance of 8 in 10: the cluster stays near its size without
// always being at it.
func (r *mixRun) refill(ctx context.Context, rng *rand.Rand) error {
	for len(r.cluster.Live()) < r.cfg.Executors && rng.IntN(10) < 8 {
		e, err := r.cluster.Start(ctx)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.rep.Starts++
		r.mu.Unlock()
		r.logf("started %s, %d executors live", e.Name, len(r.cluster.Live()))
	}
	return nil
}

// fail records why the killer stopped.
func (r *mixRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killErr = err
}

// A logger writes a line per call to w, after prefix; it drops them if w
// is nil.
type logger struct {
	w      io.Writer
	prefix string
}

func (l logger) logf(format string, args ...any) {
	if l.w != nil {
		fmt.Fprintf(l.w, l.prefix+format+"\n", args...)
	}
}

// job is one kind of the mix: it runs a pipeline and describes its result
// canonically, so that two runs compare as strings.
type job struct {
	name string
	run  func(ctx context.Context, s *rdd.Session, id string) (string, error)
}

// mix is the job mix: multi-stage jobs of every kind, the seed among
// them.
func mix(dir string) []job {
	return []job{
		{"wordcount", func(ctx context.Context, s *rdd.Session, _ string) (string, error) {
			counts, err := wordcount.Pipeline.Run(ctx, s, wordcount.Config{Bytes: 4 << 20, Partitions: 6})
			return fmt.Sprint(counts), err
		}},
		{"join-sort", func(ctx context.Context, s *rdd.Session, _ string) (string, error) {
			pairs, err := joinSort.Run(ctx, s, 20_000)
			return fmt.Sprint(pairs), err
		}},
		{"pagerank", func(ctx context.Context, s *rdd.Session, _ string) (string, error) {
			res, err := pagerank.Run(ctx, s, pagerank.Config{Pages: 5_000, Links: 4, Iterations: 5, Partitions: 6, Seed: 1, Top: 10})
			return fmt.Sprint(res), err
		}},
		{"dotproduct", func(ctx context.Context, s *rdd.Session, id string) (string, error) {
			out := filepath.Join(dir, "out", id)
			res, err := dotproduct.Run(ctx, s, dotproduct.Config{N: 3_000_000, Partitions: 6, OutDir: out})
			if err != nil {
				return "", err
			}
			return fmt.Sprint(res.Dot), checkOutput(out, 6)
		}},
	}
}

// joinSort joins two pair RDDs and sorts the result.
var joinSort = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) ([]rdd.Pair[int64, int64], error) {
	a := rdd.Map(rdd.Range(s, 0, n, 6), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 100, Value: i} })
	b := rdd.Map(rdd.Range(s, 0, 200, 4), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i, Value: i * 1000} })
	sums := rdd.MapValues(rdd.Join(a, b, 5), func(v rdd.Pair[int64, int64]) int64 { return v.Key + v.Value })
	return rdd.SortBy(sums, func(p rdd.Pair[int64, int64]) int64 { return p.Value*1000 + p.Key }, true, 4).Collect(ctx)
})

// checkOutput checks that a save committed each part exactly once and left
// no temporary file.
func checkOutput(dir string, parts int) error {
	saved, err := rdd.SavedParts(dir)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"_SUCCESS"}
	for p := range parts {
		want = append(want, fmt.Sprintf("part-%05d.arrow", p))
	}
	if len(saved) != parts || !slices.Equal(names, want) {
		return fmt.Errorf("output %s holds %v with %d parts listed, want %v", dir, names, len(saved), want)
	}
	return os.RemoveAll(dir)
}
