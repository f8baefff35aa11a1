package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
	"github.com/ember-go/ember/task"
)

// An Engine runs the jobs of one session. Package rdd describes jobs and
// hands them to an Engine; it does not know whether tasks run on goroutine
// slots of this process or on the executors of a cluster. Start picks the
// engine a master URL names.
type Engine interface {
	// RunJob runs job's tasks and delivers their results, running the
	// stages the job needs first.
	RunJob(ctx context.Context, job Job) error
	// Unpersist drops the cached partitions of an RDD wherever they are.
	Unpersist(rdd int)
	// Cached lists the cached partitions and where they are held.
	Cached() []CachedPartition
	// Executors describes the executors: the driver's own slots on a
	// local master.
	Executors() []ExecutorStatus
	// Slots is how many tasks may run at once.
	Slots() int
	// OnStageEvent registers f to be called with every stage event.
	OnStageEvent(f func(StageEvent))
	// OnTaskEnd registers f to be called after every task attempt that
	// ran on a cluster executor; a local engine never calls it.
	OnTaskEnd(f func(TaskEvent))
	// OnExecutorLost registers f to be called with the name and address
	// of every executor lost.
	OnExecutorLost(f func(name, addr string))
	// GossipAddr is where executors may join the cluster through the
	// driver; "" on a local master.
	GossipAddr() string
	// IDBase is where the ids of the session's RDDs and shuffles start:
	// executors keep the files and blocks of several applications side
	// by side, named by these ids.
	IDBase() int64
	// Close ends the engine: running tasks stop, executors are told the
	// application is over, and the files it kept are removed.
	Close() error
}

// EngineConfig is what Start needs of a session's configuration. Zero
// fields take the defaults of the field they name.
type EngineConfig struct {
	// Master is the master URL; see ParseMaster.
	Master string
	// MaxFailures and MaxStageAttempts bound retries (see Config).
	MaxFailures, MaxStageAttempts int
	// ShuffleDir is where a local master keeps shuffle files; "" is a new
	// temporary directory.
	ShuffleDir string
	// Compression compresses shuffle files.
	Compression shuffle.Compression
	// MemoryLimit bounds the bytes a local master's block manager holds
	// in memory.
	MemoryLimit int64
	// MemoryBudget is the bytes a local master's tasks and cached blocks
	// share; 0 sizes it from the machine (storage.SizeBudget).
	MemoryBudget int64

	// Cluster configures cluster masters; local masters ignore it.
	Cluster StandaloneConfig
}

// DriverExecutor names the executor of a local master: the driver's own
// task slots.
const DriverExecutor = "driver"

// ExecutorStatus describes an executor for the status pages.
type ExecutorStatus struct {
	Name, Address, Gossip string
	// State is "active" (connected), "joined" (known to gossip, not
	// connected yet) or "unusable", with Reason saying why.
	State, Reason                     string
	Cores                             int
	MemoryUsed, MemoryLimit, DiskUsed int64
	// MemoryBudget is the executor's memory budget, which cached blocks
	// (MemoryUsed) and the execution memory of running tasks
	// (ExecutionUsed) share.
	MemoryBudget, ExecutionUsed int64
}

// Start starts the engine that cfg.Master names: goroutine slots in this
// process for local masters; for local-cluster and ember:// masters, a
// cluster of executor processes. On a cluster master it blocks until
// enough executors have connected (StandaloneConfig.ExecutorWait) or ctx
// ends.
func Start(ctx context.Context, cfg EngineConfig) (Engine, error) {
	m, err := ParseMaster(cfg.Master)
	if err != nil {
		return nil, err
	}
	dagCfg := dagConfig{MaxFailures: cfg.MaxFailures, MaxStageAttempts: cfg.MaxStageAttempts}
	if m.Kind == LocalMaster {
		return newLocalEngine(m.Slots, dagCfg, cfg)
	}
	return startStandalone(ctx, m, dagCfg, cfg.Cluster)
}

// Both engines are Engines.
var (
	_ Engine = (*localEngine)(nil)
	_ Engine = (*standalone)(nil)
)

// localEngine runs tasks on goroutine slots of this process, with one
// block manager and one shuffle manager for all of them.
type localEngine struct {
	*dagScheduler
	slots   *localSlots
	budget  *storage.MemoryManager
	blocks  *storage.Manager
	shuffle *shuffle.Manager
	release func() // of the budget's hold on the heap limit
}

func newLocalEngine(slots int, dagCfg dagConfig, cfg EngineConfig) (*localEngine, error) {
	budget, size, release, err := storage.NewProcessBudget(cfg.MemoryBudget)
	if err != nil {
		return nil, fmt.Errorf("memory.limit: %w", err)
	}
	slog.Debug("ember: memory budget", "bytes", size.Total, "source", size.Source, "heapLimit", size.HeapLimit)
	blocks, err := storage.NewManager(storage.Config{MemoryLimit: cfg.MemoryLimit, Budget: budget})
	if err != nil {
		release()
		return nil, err
	}
	shuf, err := shuffle.NewManager(shuffle.Config{Dir: cfg.ShuffleDir, Compression: cfg.Compression})
	if err != nil {
		blocks.Close()
		release()
		return nil, err
	}
	env := &task.Env{Blocks: blocks, Shuffle: shuf, Fetcher: shuf, Memory: budget, SpillDir: shuf.Dir()}
	local, err := newLocalSlots(slots, env)
	if err != nil {
		blocks.Close()
		shuf.Close()
		release()
		return nil, err
	}
	return &localEngine{dagScheduler: newDAGScheduler(local, dagCfg), slots: local, budget: budget, blocks: blocks, shuffle: shuf, release: release}, nil
}

func (e *localEngine) Unpersist(rdd int) { e.blocks.RemoveRDD(rdd) }

// Cached lists the partitions in the block manager: all of them are the
// driver's.
func (e *localEngine) Cached() []CachedPartition {
	var out []CachedPartition
	for _, b := range e.blocks.Status().Blocks {
		if id, p, err := storage.ParseRDDBlock(b.ID); err == nil {
			out = append(out, CachedPartition{RDD: id, Partition: p, Executors: []string{DriverExecutor}, Memory: b.MemSize, Disk: b.DiskSize})
		}
	}
	return out
}

func (e *localEngine) Executors() []ExecutorStatus {
	st := e.blocks.Status()
	budget := e.budget.Usage()
	return []ExecutorStatus{{Name: DriverExecutor, State: "active", Cores: e.slots.Slots(),
		MemoryUsed: st.MemoryUsed, MemoryLimit: st.MemoryLimit, DiskUsed: st.DiskUsed,
		MemoryBudget: budget.Total, ExecutionUsed: budget.Execution}}
}

func (e *localEngine) Slots() int                          { return e.slots.Slots() }
func (e *localEngine) OnTaskEnd(func(TaskEvent))           {}
func (e *localEngine) OnExecutorLost(func(string, string)) {}
func (e *localEngine) GossipAddr() string                  { return "" }
func (e *localEngine) IDBase() int64                       { return 0 }

func (e *localEngine) Close() error {
	defer e.release()
	return errors.Join(e.shuffle.Close(), e.blocks.Close())
}
