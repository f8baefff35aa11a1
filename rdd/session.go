package rdd

import (
	"context"
	"errors"
	"fmt"
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
	cfg     Config
	slots   int
	exec    *executor.Local
	dag     *scheduler.DAG
	blocks  *storage.Manager
	shuffle *shuffle.Manager

	// ctx ends when the session closes, which cancels running jobs.
	ctx    context.Context
	cancel context.CancelFunc
	jobs   sync.WaitGroup

	nextRDD     atomic.Int64
	nextShuffle atomic.Int64

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
	slots, err := ParseMaster(cfg.Master)
	if err != nil {
		return nil, fmt.Errorf("ember: %w", err)
	}
	if cfg.DefaultParallelism == 0 {
		cfg.DefaultParallelism = slots
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
	exec, err := executor.NewLocal(slots, &executor.Env{Blocks: blocks, Shuffle: shuf, Fetcher: shuf})
	if err != nil {
		blocks.Close()
		shuf.Close()
		return nil, fmt.Errorf("ember: %w", err)
	}
	s := &Session{
		cfg:     cfg,
		slots:   slots,
		exec:    exec,
		dag:     scheduler.New(exec, scheduler.Config{MaxFailures: cfg.TaskMaxFailures}),
		blocks:  blocks,
		shuffle: shuf,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
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
	err := errors.Join(s.shuffle.Close(), s.blocks.Close())
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
