package rdd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/ember-go/ember/internal/bytesize"
	"github.com/ember-go/ember/internal/codec"
	"github.com/ember-go/ember/internal/rpc"
	"github.com/ember-go/ember/internal/spill"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
)

// ErrEmpty is returned by Reduce, First, Max and Min on an RDD without
// elements.
var ErrEmpty = errors.New("RDD is empty")

// runJob runs an action: fn computes a result from the stream of each of
// parts (all partitions if nil), and each receives the results, one at a
// time, with the index of their partition in parts.
func runJob[T, R any](ctx context.Context, r *RDD[T], action string, parts []int,
	fn func(tc *task.Context, p int, in stream[T]) (R, error), each func(i int, res R) error) (err error) {
	if err := r.Err(); err != nil {
		return fmt.Errorf("ember: %s: %w", action, err) // the error names the RDD
	}
	if insideTask() {
		return actionError(action, r, errActionInTask)
	}
	if r.s.replaying() {
		return replayJob(r, fn, each)
	}
	rec := &jobRecord[R]{s: r.s, final: r.vertex()}
	defer func() { rec.end(err) }()
	jctx, done, err := r.s.startJob(ctx)
	if err != nil {
		return actionError(action, r, err)
	}
	defer done()
	limit := newResultLimit(r.s.cfg.MaxResultSize)
	jobID := int(r.s.nextJobID.Add(1))
	r.s.status.JobStarted(jobID, action, r.String())
	defer func() { r.s.status.JobEnded(jobID, err) }()
	err = r.s.engine.RunJob(jctx, scheduler.Job{
		ID:         jobID,
		Final:      r.vertex(),
		Partitions: parts,
		Run: func(tc *task.Context, p int) (any, error) {
			return inTask(func() (any, error) { return fn(tc, p, r.resultStream(tc, p)) })
		},
		Result: func(i int, res any) error {
			if err := limit.add(res); err != nil {
				return err
			}
			rec.delivered(i, res.(R))
			return each(i, res.(R))
		},
		Describe: rec.describe,
	})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if r.s.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = ErrSessionClosed
		}
		return actionError(action, r, err)
	}
	return nil
}

// resultLimit bounds the bytes of the results an action brings to the
// driver (driver.maxResultSize), as Spark does: a job whose results add
// up to more fails before they exhaust the driver's memory.
type resultLimit struct {
	max     int64 // negative: no bound
	mu      sync.Mutex
	bytes   int64
	results int
}

func newResultLimit(max int64) *resultLimit { return &resultLimit{max: max} }

// add counts a task's result, measured as it is held in memory.
func (l *resultLimit) add(res any) error {
	if l.max < 0 {
		return nil
	}
	size := spill.Exact(res)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bytes += size
	l.results++
	if l.bytes > l.max {
		return task.Permanent(fmt.Errorf("%w: the results of %d tasks take %s, more than driver.maxResultSize (%s): "+
			"bring less to the driver (Take, an aggregation, or a Save… action), or raise the bound",
			ErrResultTooLarge, l.results, bytesize.Format(l.bytes), bytesize.Format(l.max)))
	}
	return nil
}

// ErrResultTooLarge is wrapped by the error of an action whose results
// exceed driver.maxResultSize.
var ErrResultTooLarge = errors.New("results too large for the driver")

// jobRecord is a job of a pipeline as executors in other processes see
// it: described to them when the engine asks, with what it delivered
// recorded for the pipeline's later jobs, which executors rebuild with it.
type jobRecord[R any] struct {
	s     *Session
	final *vertex
	spec  *jobSpec                     // nil until described
	ended func(func() *rpc.JobHistory) // records the job's end in the pipeline

	indexes []int32 // of the results delivered
	results []R
}

// describe describes the job to executors; an engine whose executors run
// in other processes calls it before the job starts.
func (j *jobRecord[R]) describe() (task.JobSpec, error) {
	spec, end, err := j.s.inv.startJob(j.s, j.final)
	if err != nil {
		return nil, err
	}
	if err := j.s.inv.owns(j.final); err != nil {
		end(func() *rpc.JobHistory { return history(nil, []R(nil), err) })
		return nil, err
	}
	spec.decode = func(b []byte) (any, error) { return codec.DecodeValue[R](b) }
	j.spec, j.ended = spec, end
	return spec, nil
}

// delivered records a result for the pipeline's later jobs, if the job was
// described.
func (j *jobRecord[R]) delivered(i int, res R) {
	if j.spec != nil {
		j.indexes, j.results = append(j.indexes, int32(i)), append(j.results, res)
	}
}

// end records, if the job was described, what it delivered or how it
// failed.
func (j *jobRecord[R]) end(err error) {
	if j.ended != nil {
		j.ended(func() *rpc.JobHistory { return history(j.indexes, j.results, err) })
	}
}

// ErrOutputExists is the error of a save into a directory that holds data
// already, without Overwrite.
var ErrOutputExists = errors.New("already exists and is not empty (save with rdd.Overwrite() to replace it)")

// errActionInTask is the error of an action called inside a task.
var errActionInTask = errors.New("an action cannot run inside a task: transformations and actions are called by the driver, " +
	"not inside the functions given to other transformations (Spark's SPARK-5063); run the inner action first, " +
	"and pass its result to the tasks (in the closure, or with a Broadcast)")

// inTask runs the body of a task attempt, whose additions to accumulators
// count if it succeeds. Actions look for it on their caller's stack: one
// called inside a task fails at once, instead of waiting for slots that
// the tasks calling it hold.
//
//go:noinline
func inTask[R any](body func() (R, error)) (R, error) {
	adds := beginAttempt()
	succeeded := false
	defer func() { adds.end(succeeded) }() // also when the body panics
	res, err := body()
	succeeded = err == nil
	return res, err
}

// insideTask reports whether the caller runs inside the body of a task.
func insideTask() bool {
	var pcs [128]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "github.com/ember-go/ember/rdd.inTask[") {
			return true
		}
		if !more {
			return false
		}
	}
}

// actionError says which action on which RDD failed, and why.
func actionError(action string, n fmt.Stringer, err error) error {
	return fmt.Errorf("ember: %s on %s: %w", action, n, err)
}

// collectPartitions runs fn over every partition and returns the results in
// partition order.
func collectPartitions[T, R any](ctx context.Context, r *RDD[T], action string,
	fn func(tc *task.Context, p int, in stream[T]) (R, error)) ([]R, error) {
	out := make([]R, r.nparts)
	err := runJob(ctx, r, action, nil, fn, func(i int, res R) error { out[i] = res; return nil })
	return out, err
}

// Collect returns all elements, in partition order.
func (r *RDD[T]) Collect(ctx context.Context) ([]T, error) {
	parts, err := collectPartitions(ctx, r, "Collect", func(tc *task.Context, p int, in stream[T]) ([][]T, error) {
		var chunks chunked[T]
		err := in(func(b []T) bool { chunks.append(b); return true })
		return chunks.all, err
	})
	if err != nil {
		return nil, err
	}
	var n int
	for _, p := range parts {
		for _, c := range p {
			n += len(c)
		}
	}
	all := make([]T, 0, n)
	for _, p := range parts {
		for _, c := range p {
			all = append(all, c...)
		}
	}
	return all, nil
}

// chunked gathers elements in chunks of growing size, so that what is
// gathered is copied once, into its chunk, and not again each time a
// single slice would outgrow its capacity.
type chunked[T any] struct{ all [][]T }

// maxChunk is the most elements a chunk holds.
const maxChunk = 1 << 20

func (c *chunked[T]) append(b []T) {
	for len(b) > 0 {
		last := len(c.all) - 1
		if last < 0 || len(c.all[last]) == cap(c.all[last]) {
			size := 1024
			if last >= 0 {
				size = min(2*cap(c.all[last]), maxChunk)
			}
			c.all = append(c.all, make([]T, 0, size))
			last++
		}
		n := min(len(b), cap(c.all[last])-len(c.all[last]))
		c.all[last] = append(c.all[last], b[:n]...)
		b = b[n:]
	}
}

// Count returns the number of elements.
func (r *RDD[T]) Count(ctx context.Context) (int64, error) {
	counts, err := collectPartitions(ctx, r, "Count", func(tc *task.Context, p int, in stream[T]) (int64, error) {
		var n int64
		err := in(func(b []T) bool { n += int64(len(b)); return true })
		return n, err
	})
	var total int64
	for _, c := range counts {
		total += c
	}
	return total, err
}

// Reduce merges all elements with f, which must be associative and
// commutative. It returns ErrEmpty if there are none.
func (r *RDD[T]) Reduce(ctx context.Context, f func(T, T) T) (T, error) {
	return r.reduceAction(ctx, "Reduce", f)
}

func (r *RDD[T]) reduceAction(ctx context.Context, action string, f func(T, T) T) (T, error) {
	var zero T
	if f == nil {
		return zero, actionError(action, r, errors.New("nil function"))
	}
	// Exported fields: results cross the wire from cluster executors.
	type partial struct {
		V  T
		OK bool
	}
	parts, err := collectPartitions(ctx, r, action, func(tc *task.Context, p int, in stream[T]) (partial, error) {
		var acc partial
		var err error
		if r.reduce != nil && r.storageLevel() == storage.None {
			acc.V, acc.OK, err = r.reduce(tc, p, f)
			return acc, err
		}
		err = in(func(b []T) bool {
			acc.V, acc.OK = reduceBatch(&r.node, f, acc.V, acc.OK, b)
			return true
		})
		return acc, err
	})
	if err != nil {
		return zero, err
	}
	acc := partial{}
	err = r.onDriver(action, func() {
		for _, p := range parts {
			if p.OK {
				acc.V, acc.OK = reduceBatch(&r.node, f, acc.V, acc.OK, []T{p.V})
			}
		}
	})
	switch {
	case err != nil:
		return zero, err
	case !acc.OK:
		return zero, actionError(action, r, ErrEmpty)
	}
	return acc.V, nil
}

// onDriver runs the part of an action that merges the tasks' results: a
// panic in the user's function there becomes the action's error, as it
// would in a task.
func (r *RDD[T]) onDriver(action string, merge func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := task.NewPanicError(v)
			if pe.Where == "" {
				pe.Where = r.String()
			}
			err = actionError(action, r, pe)
		}
	}()
	merge()
	return nil
}

func reduceBatch[T any](n *node, f func(T, T) T, acc T, ok bool, b []T) (T, bool) {
	defer n.guard()
	if len(b) == 0 {
		return acc, ok
	}
	// As foldLanes, without a function to apply first: this loop is hot
	// enough that an identity call per element would cost a third of it.
	i, r := 1, b[0]
	if len(b) >= 8 {
		a0, a1, a2, a3 := b[0], b[1], b[2], b[3]
		for i = 4; i+4 <= len(b); i += 4 {
			a0 = f(a0, b[i])
			a1 = f(a1, b[i+1])
			a2 = f(a2, b[i+2])
			a3 = f(a3, b[i+3])
		}
		r = f(f(a0, a1), f(a2, a3))
	}
	for ; i < len(b); i++ {
		r = f(r, b[i])
	}
	if ok {
		return f(acc, r), true
	}
	return r, true
}

// foldLanes folds g over f of every element of b into acc (ok says whether
// acc holds a value yet). Long batches are folded in four interleaved lanes
// merged at the end: f's calls then do not wait on each other, which runs
// about twice as fast. That needs g to be associative and commutative, as
// Reduce documents, like Spark's reduce.
func foldLanes[T, U any](f func(T) U, g func(U, U) U, acc U, ok bool, b []T) (U, bool) {
	if len(b) == 0 {
		return acc, ok
	}
	i, r := 1, f(b[0])
	if len(b) >= 8 {
		a0, a1, a2, a3 := r, f(b[1]), f(b[2]), f(b[3])
		for i = 4; i+4 <= len(b); i += 4 {
			a0 = g(a0, f(b[i]))
			a1 = g(a1, f(b[i+1]))
			a2 = g(a2, f(b[i+2]))
			a3 = g(a3, f(b[i+3]))
		}
		r = g(g(a0, a1), g(a2, a3))
	}
	for ; i < len(b); i++ {
		r = g(r, f(b[i]))
	}
	if ok {
		return g(acc, r), true
	}
	return r, true
}

// Fold merges all elements with f, starting from zero in every partition and
// again when merging the partitions' results, as Spark's fold does.
func (r *RDD[T]) Fold(ctx context.Context, zero T, f func(T, T) T) (T, error) {
	return aggregate(ctx, r, "Fold", zero, f, f)
}

// Aggregate folds the elements of each partition into an accumulator that
// starts at zero, with seq, then merges the partitions' accumulators with
// comb, starting from zero again.
func Aggregate[T, A any](ctx context.Context, r *RDD[T], zero A, seq func(A, T) A, comb func(A, A) A) (A, error) {
	return aggregate(ctx, r, "Aggregate", zero, seq, comb)
}

func aggregate[T, A any](ctx context.Context, r *RDD[T], action string, zero A, seq func(A, T) A, comb func(A, A) A) (A, error) {
	if seq == nil || comb == nil {
		return zero, actionError(action, r, errors.New("nil function"))
	}
	clone := cloner[A]()
	parts, err := collectPartitions(ctx, r, action, func(tc *task.Context, p int, in stream[T]) (A, error) {
		acc := clone(zero)
		err := in(func(b []T) bool {
			acc = foldBatch(&r.node, seq, acc, b)
			return true
		})
		return acc, err
	})
	if err != nil {
		return zero, err
	}
	acc := clone(zero)
	err = r.onDriver(action, func() { acc = foldBatch(&r.node, comb, acc, parts) })
	return acc, err
}

func foldBatch[A, T any](n *node, f func(A, T) A, acc A, b []T) A {
	defer n.guard()
	for _, x := range b {
		acc = f(acc, x)
	}
	return acc
}

// Take returns the first n elements, in partition order. It computes the
// first partition alone, and more partitions only if that gave too few, as
// Spark's take does.
func (r *RDD[T]) Take(ctx context.Context, n int) ([]T, error) {
	var out []T
	for next := 0; len(out) < n && next < r.nparts; {
		// Try four times as many partitions each round, or an estimate from
		// the elements found so far.
		try := 1
		if next > 0 {
			try = next * 4
			if len(out) > 0 {
				estimate := 1.5 * float64(n-len(out)) * float64(next) / float64(len(out))
				try = min(try, max(1, int(min(estimate, float64(r.nparts)))))
			}
		}
		parts := make([]int, 0, try)
		for p := next; p < min(next+try, r.nparts); p++ {
			parts = append(parts, p)
		}
		got := make([][]T, len(parts))
		want := n - len(out)
		err := runJob(ctx, r, "Take", parts, func(tc *task.Context, p int, in stream[T]) ([]T, error) {
			var taken []T
			handed := 0
			err := in(func(b []T) bool {
				handed += len(b)
				taken = append(taken, b[:min(len(b), want-len(taken))]...)
				return len(taken) < want
			})
			// The stream counted whole batches as output: only what
			// Take keeps is.
			tc.AddOutput(int64(len(taken)-handed), 0)
			return taken, err
		}, func(i int, res []T) error { got[i] = res; return nil })
		if err != nil {
			return nil, err
		}
		for _, g := range got {
			out = append(out, g[:min(len(g), n-len(out))]...)
		}
		next += len(parts)
	}
	return out, nil
}

// First returns the first element, or ErrEmpty.
func (r *RDD[T]) First(ctx context.Context) (T, error) {
	var zero T
	got, err := r.Take(ctx, 1)
	if err != nil {
		return zero, err
	}
	if len(got) == 0 {
		return zero, actionError("First", r, ErrEmpty)
	}
	return got[0], nil
}

// Foreach calls f on every element, inside the tasks.
func (r *RDD[T]) Foreach(ctx context.Context, f func(T)) error {
	if f == nil {
		return actionError("Foreach", r, errors.New("nil function"))
	}
	_, err := collectPartitions(ctx, r, "Foreach", func(tc *task.Context, p int, in stream[T]) (struct{}, error) {
		return struct{}{}, in(func(b []T) bool {
			foreachBatch(&r.node, f, b)
			return true
		})
	})
	return err
}

func foreachBatch[T any](n *node, f func(T), b []T) {
	defer n.guard()
	for _, x := range b {
		f(x)
	}
}

// CountByKey counts the pairs of each key.
func CountByKey[K comparable, V any](ctx context.Context, r *RDD[Pair[K, V]]) (map[K]int64, error) {
	return countBy(ctx, r, "CountByKey", func(kv Pair[K, V]) K { return kv.Key })
}

// countBy counts the elements of r by key.
func countBy[T any, K comparable](ctx context.Context, r *RDD[T], action string, key func(T) K) (map[K]int64, error) {
	// As Spark does: a ReduceByKey, whose tasks spill what does not fit,
	// then the counts collected, which driver.maxResultSize bounds.
	ones := withOp(Map(r, func(x T) Pair[K, int64] { return Pair[K, int64]{key(x), 1} }), action)
	return CollectAsMap(ctx, withOp(ReduceByKey(ones, func(a, b int64) int64 { return a + b }, 0), action))
}

// SaveAsArrow writes each partition as an Arrow IPC file, part-NNNNN.arrow,
// in dir, then an empty _SUCCESS file. dir must not exist or be empty. Each
// part is written to a temporary name and renamed when complete; when a
// task runs twice, the first complete part is kept.
func (r *RDD[T]) SaveAsArrow(ctx context.Context, dir string, opts ...SaveOption) error {
	return saveParts(ctx, r, "SaveAsArrow", dir, "arrow", opts, func(f *os.File, in stream[T]) error {
		w, err := ipc.NewFileWriter(f, ipc.WithSchema(r.codec.Schema()), ipc.WithLZ4())
		if err != nil {
			return err
		}
		return r.encodeTo(in, w.Write, w.Close)
	})
}

// encodeTo encodes a partition into Arrow records of up to recordRows rows,
// hands each to write, and calls close at the end, whatever happened.
func (r *RDD[T]) encodeTo(in stream[T], write func(arrow.Record) error, close func() error) error {
	enc := r.codec.NewEncoder(nil)
	defer enc.Release()
	flush := func() error {
		rec := enc.NewRecord()
		defer rec.Release()
		return write(rec)
	}
	var werr error
	err := in(func(b []T) bool {
		enc.Append(b...)
		if enc.Len() >= recordRows {
			werr = flush()
		}
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err == nil && enc.Len() > 0 {
		err = flush()
	}
	return errors.Join(err, close())
}

// SaveAsTextFile writes each partition as a text file, part-NNNNN, in dir,
// one element per line (formatted with fmt's %v), then _SUCCESS.
func (r *RDD[T]) SaveAsTextFile(ctx context.Context, dir string, opts ...SaveOption) error {
	return saveParts(ctx, r, "SaveAsTextFile", dir, "", opts, func(f *os.File, in stream[T]) error {
		bw := bufio.NewWriterSize(f, 1<<16)
		var werr error
		err := in(func(b []T) bool {
			for _, x := range b {
				if s, ok := any(x).(string); ok {
					bw.WriteString(s)
					werr = bw.WriteByte('\n')
				} else {
					_, werr = fmt.Fprintln(bw, x)
				}
			}
			return werr == nil
		})
		return errors.Join(err, werr, bw.Flush())
	})
}

// SaveOption changes how an RDD is saved.
type SaveOption func(*saveConfig)

type saveConfig struct{ overwrite bool }

// Overwrite lets a save replace an existing output directory. The new
// output is written beside it and takes its place only once complete, so a
// failed save leaves the old output as it was.
func Overwrite() SaveOption { return func(c *saveConfig) { c.overwrite = true } }

// saveParts runs the job of the Save actions: each task writes its
// partition with write into a temporary file, then links it to its final
// name, which fails if an earlier attempt already did (first one wins).
// _SUCCESS is written last. A save that fails removes the directory it
// created; an existing directory is an error unless Overwrite is given.
func saveParts[T any](ctx context.Context, r *RDD[T], action, dir, ext string, opts []SaveOption, write func(*os.File, stream[T]) error) error {
	var cfg saveConfig
	for _, o := range opts {
		o(&cfg)
	}
	target := dir
	if cfg.overwrite {
		// Write beside dir, then swap: the old output stays whole until
		// the new one is. The name must be the same in every process, as
		// executors rebuild the job with it.
		target = strings.TrimSuffix(dir, string(os.PathSeparator)) + ".ember-staging"
	}
	if r.s.replaying() {
		// Only the driver prepares and completes the output.
		return writeParts(ctx, r, action, target, ext, write)
	}
	created, err := prepareOutput(target, cfg.overwrite)
	if err != nil {
		// Executors run the save's job, which did not run here: they
		// replay it failing as it did.
		r.s.inv.skipJob(err)
		return actionError(action, r, err)
	}
	err = writeParts(ctx, r, action, target, ext, write)
	if err == nil && cfg.overwrite {
		err = replaceDir(dir, target)
	}
	if err != nil && created {
		os.RemoveAll(target)
	}
	return err
}

// prepareOutput makes the directory a save writes into; with overwrite,
// after removing a staging directory left by a save that crashed.
func prepareOutput(target string, overwrite bool) (created bool, err error) {
	if overwrite {
		if err := os.RemoveAll(target); err != nil {
			return false, err
		}
	}
	return prepareOutputDir(target)
}

func writeParts[T any](ctx context.Context, r *RDD[T], action, dir, ext string, write func(*os.File, stream[T]) error) error {
	name := func(p int) string {
		if ext == "" {
			return fmt.Sprintf("part-%05d", p)
		}
		return fmt.Sprintf("part-%05d.%s", p, ext)
	}
	writers, err := collectPartitions(ctx, r, action, func(tc *task.Context, p int, in stream[T]) (string, error) {
		// On a cluster the directory is made on the driver's machine; an
		// executor on another one makes its own.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		final := filepath.Join(dir, name(p))
		tmp, err := os.CreateTemp(dir, fmt.Sprintf(".%s-attempt%d-*.tmp", name(p), tc.Attempt))
		if err != nil {
			return "", err
		}
		defer os.Remove(tmp.Name())
		err = write(tmp, in)
		if err == nil {
			err = tmp.Sync()
		}
		if err == nil {
			// CreateTemp makes files only their owner can read; output is
			// for other tools and users too.
			err = tmp.Chmod(0o644)
		}
		if err == nil {
			var fi os.FileInfo
			if fi, err = tmp.Stat(); err == nil {
				tc.AddOutput(0, fi.Size())
			}
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		return tc.Executor, commitPart(tmp.Name(), final)
	})
	if err != nil || r.s.replaying() {
		return err
	}
	// Attempts that died with their executor (SIGKILL, a lost machine)
	// left their temporary files; the committed parts are whole.
	if tmps, err := filepath.Glob(filepath.Join(dir, ".part-*.tmp")); err == nil {
		for _, tmp := range tmps {
			os.Remove(tmp)
		}
	}
	// _SUCCESS, written last, lists the parts and who wrote them.
	var manifest strings.Builder
	for p, w := range writers {
		fmt.Fprintf(&manifest, "%s\t%s\n", name(p), w)
	}
	if err := os.WriteFile(filepath.Join(dir, "_SUCCESS"), []byte(manifest.String()), 0o644); err != nil {
		return actionError(action, r, err)
	}
	return nil
}

// SavedPart is a part file of a saved output and the executor that wrote
// it ("driver" in local mode).
type SavedPart struct {
	Name, Executor string
}

// SavedParts reads the list of parts from the _SUCCESS file of an output
// directory that a Save action wrote.
func SavedParts(dir string) ([]SavedPart, error) {
	b, err := os.ReadFile(filepath.Join(dir, "_SUCCESS"))
	if err != nil {
		return nil, fmt.Errorf("ember: %s is not a complete output: %w", dir, err)
	}
	var parts []SavedPart
	for line := range strings.Lines(string(b)) {
		name, executor, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok {
			return nil, fmt.Errorf("ember: %s: malformed line %q", filepath.Join(dir, "_SUCCESS"), line)
		}
		parts = append(parts, SavedPart{Name: name, Executor: executor})
	}
	return parts, nil
}

// replaceDir puts the complete output in staging where dir is, moving the
// old dir aside first and removing it last.
func replaceDir(dir, staging string) error {
	old := staging + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(staging, dir); err != nil {
		os.Rename(old, dir) // put the old output back
		return err
	}
	return os.RemoveAll(old)
}

// commitPart gives a complete temporary part file its final name, unless
// another attempt of the same task did so first. A hard link fails if the
// name exists, which makes the first attempt win; where the file system has
// no hard links, a rename does the job, and an attempt racing it writes the
// same content.
func commitPart(tmp, final string) error {
	err := os.Link(tmp, final)
	switch {
	case err == nil, errors.Is(err, os.ErrExist):
		return nil
	case errors.Is(err, os.ErrNotExist):
		return err
	}
	if _, statErr := os.Stat(final); statErr == nil {
		return nil
	}
	return os.Rename(tmp, final)
}

// prepareOutputDir makes sure dir exists and is empty, and says whether it
// made it.
func prepareOutputDir(dir string) (created bool, err error) {
	if dir == "" {
		return false, errors.New("empty output directory name")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, os.MkdirAll(dir, 0o755)
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("output directory %s: %w", dir, ErrOutputExists)
	}
	return false, nil
}
