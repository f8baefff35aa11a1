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
	rep := Report{ByKind: map[string]int{}}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	start := time.Now()
	jobs := mix(cfg.Dir)

	// What local mode says.
	want := make([]string, len(jobs))
	err := inLocalMode(func(local *rdd.Session) (err error) {
		for i, j := range jobs {
			if want[i], err = j.run(ctx, local, "local"); err != nil {
				return fmt.Errorf("%s in local mode: %w", j.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	cluster, s, stop, err := startWithSession(ctx, cfg, rdd.WithConf("cluster.executorWait", "20s"), rdd.WithConf("default.parallelism", "6"))
	if err != nil {
		return rep, err
	}
	defer stop()
	logf("cluster of %d executors up; local results computed in %v", cfg.Executors, time.Since(start).Round(time.Millisecond))

	// The killer: a SIGKILL to a random live executor now and then,
	// never the last one, and a new executor in its place most times.
	kctx, stopKilling := context.WithCancel(ctx)
	var (
		mu      sync.Mutex
		killErr error
		wg      sync.WaitGroup
	)
	rng := rand.New(rand.NewPCG(cfg.Seed, 99))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			wait := time.Duration(float64(cfg.KillEvery) * (0.5 + rng.Float64()))
			select {
			case <-kctx.Done():
				return
			case <-time.After(wait):
			}
			live := cluster.Live()
			if len(live) >= 2 {
				victim := live[rng.IntN(len(live))]
				if err := cluster.Kill(victim); err != nil {
					mu.Lock()
					killErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				rep.Kills++
				n := rep.Kills
				mu.Unlock()
				logf("kill %d: %s (SIGKILL); executors left: %d", n, victim.Name, len(live)-1)
			}
			for len(cluster.Live()) < cfg.Executors && rng.IntN(10) < 8 {
				e, err := cluster.Start(kctx)
				if err != nil {
					if kctx.Err() == nil {
						mu.Lock()
						killErr = err
						mu.Unlock()
					}
					return
				}
				mu.Lock()
				rep.Starts++
				mu.Unlock()
				logf("started %s, %d executors live", e.Name, len(cluster.Live()))
			}
		}
	}()

	var runErr error
	for i := 0; ; i++ {
		mu.Lock()
		done := rep.Jobs >= cfg.Jobs && rep.Kills >= cfg.Kills
		kerr := killErr
		mu.Unlock()
		if done || kerr != nil {
			runErr = kerr
			break
		}
		k := i % len(jobs)
		j := jobs[k]
		jstart := time.Now()
		got, err := j.run(ctx, s, fmt.Sprintf("job-%d", i))
		if err != nil {
			runErr = fmt.Errorf("job %d (%s) failed: %w", i, j.name, err)
			break
		}
		mu.Lock()
		rep.Jobs++
		rep.ByKind[j.name]++
		if got != want[k] {
			rep.Mismatches = append(rep.Mismatches, fmt.Sprintf("job %d (%s): %.200s, local mode: %.200s", i, j.name, got, want[k]))
		}
		mu.Unlock()
		logf("job %d: %s ok in %v", i, j.name, time.Since(jstart).Round(time.Millisecond))
	}
	stopKilling()
	wg.Wait()
	rep.Elapsed = time.Since(start)
	if runErr == nil && len(rep.Mismatches) > 0 {
		runErr = fmt.Errorf("%d job(s) differ from local mode: %s", len(rep.Mismatches), strings.Join(rep.Mismatches, "; "))
	}
	return rep, runErr
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
