package rdd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ember-go/ember/internal/auth"
	"github.com/ember-go/ember/internal/gctune"
	"github.com/ember-go/ember/internal/membership"
	"github.com/ember-go/ember/internal/status"
	"github.com/ember-go/ember/scheduler"
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
	cfg Config
	// engine runs the session's jobs: on goroutine slots of this process
	// or on a cluster's executors.
	engine scheduler.Engine
	status *status.Store
	ui     *status.Server // nil when ui.port is negative
	// uiToken is what ui asks of its readers; "" on loopback.
	uiToken string
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
//
// On a cluster master (local-cluster[N], ember://…) NewSession blocks
// until the executors have connected: all N of a local cluster, or
// cluster.minExecutors (at least one) of a standalone cluster. It waits at
// most cluster.executorWait (30 s by default), then fails with an error
// that says which executors connected and why others could not be used.
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
	st := &session{cfg: cfg}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	if st.engine, err = scheduler.Start(st.ctx, cfg.engineConfig()); err != nil {
		st.cancel()
		return nil, fmt.Errorf("ember: %w", err)
	}
	st.nextRDD.Store(st.engine.IDBase())
	st.nextShuffle.Store(st.engine.IDBase())
	if st.cfg.DefaultParallelism == 0 {
		st.cfg.DefaultParallelism = st.engine.Slots()
	}
	s := &Session{session: st}
	st.gcDone = gctune.Start(st.cfg.GCMinHeap)
	st.status = status.NewStore(st.cfg.UIRetainedJobs, status.Live{Executors: s.executorStatus, Storage: s.storageStatus})
	st.engine.OnStageEvent(statusFeed(st.status))
	st.engine.OnExecutorLost(st.status.ExecutorLost)
	if cfg.UIPort >= 0 {
		if err := st.serveUI(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// serveUI starts the status server. Beyond loopback it asks for a token,
// derived from the cluster secret for an ember:// master (so that every
// holder of the secret can compute it), else random, and says so.
func (st *session) serveUI() error {
	cfg := st.cfg
	var token string
	if !membership.Loopback(cfg.UIBind) {
		var secret []byte
		if strings.HasPrefix(cfg.Master, "ember://") {
			var err error
			if secret, err = auth.ReadSecret(cfg.SecretFile, "cluster.secretFile"); err != nil {
				return fmt.Errorf("ember: the status server's token: %w", err)
			}
		}
		var err error
		if token, err = auth.UIToken(secret); err != nil {
			return fmt.Errorf("ember: the status server's token: %w", err)
		}
	}
	var err error
	if st.ui, err = status.Serve(cfg.UIBind, cfg.UIPort, st.status.Handler(), token); err != nil {
		return fmt.Errorf("ember: ui.port: %w", err)
	}
	st.uiToken = token
	if token == "" {
		slog.Debug("ember: status API and metrics", "url", "http://"+st.ui.Addr())
		return nil
	}
	slog.Warn("ember: the status server listens beyond loopback (ui.bind) and answers only with its token, as a bearer token or in this address",
		"url", "http://"+st.ui.Addr()+"/?token="+token)
	return nil
}

// UIToken returns the token that the status server asks of its readers,
// or "" when it listens on loopback (or not at all): see ui.bind.
func (s *Session) UIToken() string { return s.uiToken }

// UIAddr returns where the session serves its status API and metrics
// (host:port), or "" if it does not.
func (s *Session) UIAddr() string {
	if s.ui == nil {
		return ""
	}
	return s.ui.Addr()
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
func (s *Session) OnStageEvent(f func(StageEvent)) {
	if s.engine != nil { // nil on an executor rebuilding a pipeline
		s.engine.OnStageEvent(f)
	}
}

// TaskEvent reports a finished task attempt on a cluster executor.
type TaskEvent = scheduler.TaskEvent

// OnTaskEnd registers f to be called after every task attempt that ran on
// a cluster executor. On local masters it is never called.
func (s *Session) OnTaskEnd(f func(TaskEvent)) {
	if s.engine != nil {
		s.engine.OnTaskEnd(f)
	}
}

// GossipAddr returns the driver's gossip address on a cluster master, which
// executors may join through (it is a member like them); "" on local
// masters.
func (s *Session) GossipAddr() string {
	if s.engine == nil {
		return ""
	}
	return s.engine.GossipAddr()
}

// Executors returns the names of the cluster executors in use; none on
// local masters.
func (s *Session) Executors() []string {
	if s.engine == nil {
		return nil
	}
	var names []string
	for _, e := range s.engine.Executors() {
		if e.State == "active" && e.Name != scheduler.DriverExecutor {
			names = append(names, e.Name)
		}
	}
	return names
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
	err = errors.Join(err, s.engine.Close())
	s.gcDone()
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}

// isClosed reports whether Close was called.
func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
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
