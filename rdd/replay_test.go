package rdd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ember-go/ember/rdd"
)

// saveRetry saves, and when the output exists, saves again with Overwrite.
var saveRetry = rdd.Func(func(ctx context.Context, s *rdd.Session, dir string) (int, error) {
	r := rdd.Parallelize(s, []string{"a", "b", "c", "d"}, 2)
	err := r.SaveAsTextFile(ctx, dir)
	if errors.Is(err, rdd.ErrOutputExists) {
		err = r.SaveAsTextFile(ctx, dir, rdd.Overwrite())
	}
	return 0, err
})

// A save refused on the driver (its output exists) is replayed refused on
// executors: the pipeline's later jobs keep their places, and its retry
// with Overwrite writes the new output whole.
func TestRefusedSaveThenOverwrite(t *testing.T) {
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))
		dir := filepath.Join(t.TempDir(), "out")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "old"), []byte("old\n"), 0o644)
		if _, err := saveRetry.Run(context.Background(), s, dir); err != nil {
			t.Errorf("%s: %v", master, err)
			continue
		}
		names := entryNames(dir)
		parts, _ := filepath.Glob(filepath.Join(dir, "part-*"))
		if len(parts) != 2 {
			t.Errorf("%s: %d part files, want 2: %v", master, len(parts), names)
		}
	}
}

// mutateCollected changes a collected element in place, then uses it in a
// closure of the next job.
var mutateCollected = rdd.Func(func(ctx context.Context, s *rdd.Session, n int) (int64, error) {
	xs, err := rdd.Parallelize(s, [][]int64{{1}, {2}}, 2).Collect(ctx)
	if err != nil {
		return 0, err
	}
	xs[0][0] += 100 // the driver sees 101
	k := xs[0][0]
	return rdd.Sum(ctx, rdd.Map(rdd.Range(s, 0, 4, 2), func(x int64) int64 { return k }))
})

// What a job delivered is recorded for executors when the job ends: a
// change the pipeline makes to it afterwards is not replayed twice.
func TestCollectedResultChangedAfterwards(t *testing.T) {
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))
		got, err := mutateCollected.Run(context.Background(), s, 0)
		if err != nil || got != 4*101 {
			t.Errorf("%s: got %d, %v; want %d", master, got, err, 4*101)
		}
	}
}

var logsExecutors = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	_ = len(s.Executors()) // e.g. for a log line
	return rdd.Range(s, 0, n, 2).Count(ctx)
})

// Session methods that describe the cluster work in a pipeline on every
// process (on an executor rebuilding it, they describe nothing).
func TestSessionMethodsInPipelines(t *testing.T) {
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))
		got, err := logsExecutors.Run(context.Background(), s, 10)
		if err != nil || got != 10 {
			t.Errorf("%s: got %d, %v", master, got, err)
		}
	}
}

var saveThenCount = rdd.Func(func(ctx context.Context, s *rdd.Session, dir string) (int64, error) {
	r := rdd.Parallelize(s, []string{"a", "b", "c", "d"}, 2)
	_ = r.SaveAsTextFile(ctx, dir) // refused: the directory exists
	return r.Count(ctx)
})

// A refused save writes nothing on executors either, and the pipeline's
// next job runs as on the driver.
func TestRefusedSaveThenCount(t *testing.T) {
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))
		dir := filepath.Join(t.TempDir(), "out")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "precious"), []byte("keep me\n"), 0o644)
		got, err := saveThenCount.Run(context.Background(), s, dir)
		names := entryNames(dir)
		if err != nil || got != 4 || len(names) != 1 {
			t.Errorf("%s: Count = %d, %v; the refused directory holds %v, want only its own file", master, got, err, names)
		}
	}
}

// deferredAction runs a job in a deferred call, after its main one.
var deferredAction = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (total int64, err error) {
	r := rdd.Range(s, 0, n, 2)
	defer func() { _, _ = rdd.Map(r, func(x int64) int64 { return 2 * x }).Count(ctx) }()
	return r.Count(ctx)
})

// An executor that captured its job ignores what the pipeline builds and
// runs as it unwinds, instead of failing the rebuild.
func TestDeferredActionAfterCapture(t *testing.T) {
	for _, master := range []string{"local[2]", "local-cluster[2]"} {
		s := newSession(t, rdd.WithMaster(master))
		got, err := deferredAction.Run(context.Background(), s, 10)
		if err != nil || got != 10 {
			t.Errorf("%s: got %d, %v", master, got, err)
		}
	}
}

// entryNames lists the names in dir.
func entryNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
