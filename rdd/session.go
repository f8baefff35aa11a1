package rdd

import (
	"log/slog"
	"slices"

	"context"
	"errors"
	"fmt"
	"github.com/ember-go/ember/internal/gctune"
	"github.com/ember-go/ember/internal/status"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/ember-go/ember/executor"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
)

// ErrSessionClosed is returned by actions on a closed Session.
var ErrSessionClosed = errors.New("session is closed")

// A Session is a connection to an Ember master: it creates RDDs and runs
// their actions. Its methods are safe for concurrent use; several jobs may
// run at once.
type Session struct {
	*session
	// inv is the run of a registered pipeline that RDDs built through this
	// Session belong to; nil outside pipelines. A pipeline receives its
	// own Session value, sharing everything else with the caller's.
	inv *invocation
}

// session is the state that all Session values of one session share.
type session struct {
	cfg     Config
	slots   int
	dag     *scheduler.DAG
	cluster *cluster // nil on local masters
	status  *status.Store
	ui      *status.Server // nil when ui.port is negative
	blocks  *storage.Manager
	shuffle *shuffle.Manager
	// gcDone ends the session's floor under the Go heap goal (gc.minHeap).
	gcDone func()

	// ctx ends when the session closes, which cancels running jobs.
	ctx    context.Context
	cancel context.CancelFunc
	jobs   sync.WaitGroup

	nextRDD     atomic.Int64
	nextShuffle atomic.Int64
	nextJob     atomic.Uint64 // keys of jobs on executors
	nextJobID   atomic.Int64  // ids of jobs in the status API

	mu       sync.Mutex // guards closed, and jobs.Add against Close
	closed   bool
	closeErr error
}

// NewSession starts a session. Without options it runs on "local[*]": one
// task slot per CPU of this machine.
func NewSession(opts ...Option) (*Session, error) {
	cfg := DefaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("ember: %w", err)
		}
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ember: %w", err)
	}
	master, err := ParseMaster(cfg.Master)
	if err != nil {
		return nil, fmt.Errorf("ember: %w", err)
	}
	comp, _ := cfg.compression()
	blocks, err := storage.NewManager(cfg.storageConfig())
	if err != nil {
		return nil, fmt.Errorf("ember: %w", err)
	}
	shuf, err := shuffle.NewManager(shuffle.Config{Dir: cfg.ShuffleDir, Compression: comp})
	if err != nil {
		blocks.Close()
		return nil, fmt.Errorf("ember: %w", err)
	}
	st := &session{cfg: cfg, slots: master.Slots, blocks: blocks, shuffle: shuf}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	var backend scheduler.Backend
	if master.Kind == "local" {
		backend, err = executor.NewLocal(master.Slots, &executor.Env{Blocks: blocks, Shuffle: shuf, Fetcher: shuf})
	} else {
		st.cluster, err = startCluster(st.ctx, cfg, master)
		if err == nil {
			backend = st.cluster.backend
			st.slots = st.cluster.backend.Cores()
			st.idBase()
		}
	}
	if err != nil {
		st.cancel()
		blocks.Close()
		shuf.Close()
		return nil, fmt.Errorf("ember: %w", err)
	}
	if st.cfg.DefaultParallelism == 0 {
		st.cfg.DefaultParallelism = st.slots
	}
	st.dag = scheduler.New(backend, scheduler.Config{MaxFailures: cfg.TaskMaxFailures, MaxStageAttempts: cfg.StageMaxAttempts})
	s := &Session{session: st}
	st.gcDone = gctune.Start(st.cfg.GCMinHeap)
	st.status = status.NewStore(st.cfg.UIRetainedJobs, status.Live{Executors: s.executorStatus, Storage: s.storageStatus})
	st.dag.OnStageEvent(statusFeed(st.status))
	if st.cluster != nil {
		st.cluster.backend.OnLost(st.dag.ExecutorLost)
		st.cluster.backend.OnLost(func(name, addr string, _ uint64) { st.status.ExecutorLost(name, addr) })
	}
	if cfg.UIPort >= 0 {
		if st.ui, err = status.Serve(cfg.UIBind, cfg.UIPort, st.status.Handler()); err != nil {
			s.Close()
			return nil, fmt.Errorf("ember: ui.port: %w", err)
		}
		slog.Debug("ember: status API and metrics", "url", "http://"+st.ui.Addr())
	}
	return s, nil
}

// UIAddr returns where the session serves its status API and metrics
// (host:port), or "" if it does not.
func (s *Session) UIAddr() string {
	if s.ui == nil {
		return ""
	}
	return s.ui.Addr()
}

// executorStatus describes the executors for the status pages: on a
// cluster, those connected and those gossip knows; in local mode, the
// driver's task slots.
func (s *Session) executorStatus() []status.Executor {
	if s.cluster != nil {
		return s.cluster.executorStatus()
	}
	st := s.blocks.Status()
	return []status.Executor{{Name: "driver", State: "active", Cores: s.slots,
		MemoryUsed: st.MemoryUsed, MemoryLimit: st.MemoryLimit, DiskUsed: st.DiskUsed}}
}

// storageStatus describes the cached partitions: from the block manager in
// local mode, from what the executors reported on a cluster (sizes stay
// with the executors).
func (s *Session) storageStatus() []status.CachedRDD {
	byRDD := map[int]*status.CachedRDD{}
	get := func(id int) *status.CachedRDD {
		if byRDD[id] == nil {
			byRDD[id] = &status.CachedRDD{RDD: id}
		}
		return byRDD[id]
	}
	if s.cluster == nil {
		for _, b := range s.blocks.Status().Blocks {
			if id, _, err := storage.ParseRDDBlock(b.ID); err == nil {
				c := get(id)
				c.Partitions++
				c.MemBytes += b.MemSize
				c.DiskBytes += b.DiskSize
			}
		}
	} else {
		for _, p := range s.dag.CachedPartitions() {
			c := get(p.RDD)
			c.Partitions++
			c.MemBytes += p.Memory
			c.DiskBytes += p.Disk
			for _, e := range p.Executors {
				if !slices.Contains(c.Executors, e) {
					c.Executors = append(c.Executors, e)
				}
			}
		}
	}
	out := make([]status.CachedRDD, 0, len(byRDD))
	for _, c := range byRDD {
		slices.Sort(c.Executors)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b status.CachedRDD) int { return a.RDD - b.RDD })
	return out
}

// idBase starts the ids of RDDs and shuffles of a cluster session at a
// random offset: executors keep the shuffle files and cached blocks of
// several applications side by side, named by these ids. Ids stay below
// 2^52, so that they survive JSON readers that hold numbers as float64
// (JavaScript's): the status API shows them.
func (s *session) idBase() {
	base := int64(rand.Uint32()>>4) << 24
	s.nextRDD.Store(base)
	s.nextShuffle.Store(base)
}

// StageEvent reports how a stage of a job runs, on any master: it
// started, a task of it started or ended, or it ended.
type StageEvent = scheduler.StageEvent

// StageEventKind says what a StageEvent reports.
type StageEventKind = scheduler.StageEventKind

// The kinds of StageEvent.
const (
	StageStarted = scheduler.StageStarted
	TaskStarted  = scheduler.TaskStarted
	TaskEnded    = scheduler.TaskEnded
	StageEnded   = scheduler.StageEnded
)

// OnStageEvent registers f to be called with every stage event, from many
// goroutines: f must be quick. A console progress bar is built on it.
func (s *Session) OnStageEvent(f func(StageEvent)) { s.dag.OnStageEvent(f) }

// TaskEvent reports a finished task attempt on a cluster executor.
type TaskEvent = scheduler.TaskEvent

// OnTaskEnd registers f to be called after every task attempt that ran on
// a cluster executor. On local masters it is never called.
func (s *Session) OnTaskEnd(f func(TaskEvent)) {
	if s.cluster != nil {
		s.cluster.backend.OnTask(f)
	}
}

// GossipAddr returns the driver's gossip address on a cluster master, which
// executors may join through (it is a member like them); "" on local
// masters.
func (s *Session) GossipAddr() string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.member.Addr()
}

// Executors returns the names of the cluster executors in use; none on
// local masters.
func (s *Session) Executors() []string {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.backend.Executors()
}

// Config returns the session's configuration, defaults filled in.
func (s *Session) Config() Config { return s.cfg }

// DefaultParallelism is the partition count of sources created with
// numPartitions <= 0.
func (s *Session) DefaultParallelism() int { return s.cfg.DefaultParallelism }

// Close cancels running jobs, waits for them to stop, and removes the
// session's shuffle files and cached blocks. Later actions return
// ErrSessionClosed. Close is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.jobs.Wait()
	var err error
	if s.ui != nil {
		err = s.ui.Close()
	}
	if s.cluster != nil {
		err = errors.Join(err, s.cluster.close())
	}
	err = errors.Join(err, s.shuffle.Close(), s.blocks.Close())
	s.gcDone()
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}

// startJob registers a running job and returns its context, which ends
// with ctx or with the session.
func (s *Session) startJob(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrSessionClosed
	}
	s.jobs.Add(1)
	s.mu.Unlock()
	jctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return jctx, func() { stop(); cancel(); s.jobs.Done() }, nil
}
