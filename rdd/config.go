package rdd

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/ember-go/ember/internal/config"
	"github.com/ember-go/ember/internal/gctune"
	"github.com/ember-go/ember/internal/status"

	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
)

// Config holds every setting of a Session. Each field is set by the key
// its comment names, with WithConf or, in the CLI, from a file, an
// EMBER_* variable or a flag; docs/configuration.md lists the keys.
// DefaultConfig gives the defaults, and the zero value of a field means its
// default.
type Config struct {
	// Master is where tasks run (key "master"): "local" (one slot),
	// "local[N]", "local[*]" (a slot per CPU), "local-cluster[N]" or
	// "local-cluster[N,C]" (N executor processes of this program on
	// loopback, C slots each), or "ember://host:port,…" (a standalone
	// cluster, joined through these gossip addresses).
	Master string
	// DefaultParallelism is the partition count of sources built with
	// numPartitions <= 0 ("default.parallelism"); 0 means the master's
	// task slots.
	DefaultParallelism int
	// TaskMaxFailures is how many attempts of a task may fail before its
	// job fails ("task.maxFailures"); attempts that end with a lost
	// executor do not count.
	TaskMaxFailures int
	// StageMaxAttempts is how many times a stage runs while the map
	// output it reads keeps getting lost ("stage.maxAttempts").
	StageMaxAttempts int
	// ShuffleDir is where a local master keeps shuffle files
	// ("shuffle.dir"); "" is a new temporary directory. Close removes
	// the session's files.
	ShuffleDir string
	// ShuffleCompression compresses shuffle files: "lz4", "zstd" or
	// "none" ("shuffle.compression").
	ShuffleCompression string
	// MemoryLimit is the bytes of cached partitions a local master keeps
	// in memory before it evicts the least recently used
	// ("storage.memoryLimit").
	MemoryLimit int64
	// BatchSize is how many elements pass at a time through a stage's
	// operators ("batch.size").
	BatchSize int
	// MemoryBudget is the bytes that the driver's tasks (in local mode)
	// and cached blocks share ("memory.limit"); 0 sizes it from the
	// process's cgroup limit, GOMEMLIMIT or physical memory. See
	// docs/memory.md.
	MemoryBudget int64
	// MaxLineLength bounds a line of TextFile and CSVFile inputs, in
	// bytes ("input.maxLineLength"): a longer one fails the task with its
	// file and offset, rather than growing a buffer without bound (a file
	// without newlines, a decompression bomb).
	MaxLineLength int64
	// MaxResultSize bounds the bytes of results an action brings to the
	// driver ("driver.maxResultSize"); negative: no bound.
	MaxResultSize int64

	// SecretFile holds the cluster secret of an ember:// master
	// ("cluster.secretFile"); "" reads EMBER_SECRET. The secret itself is
	// never a setting, and the file's name does not travel to executors.
	SecretFile string `json:"-"`
	// TLSCert and TLSKey are the driver's PEM certificate and key, for
	// executors that require client certificates ("tls.cert",
	// "tls.key"); TLSCA, the CA that signed the executors' certificates,
	// turns TLS on for calls to executors ("tls.ca").
	TLSCert, TLSKey, TLSCA string
	// Insecure lets an ember:// session gossip beyond loopback without a
	// secret ("cluster.insecure").
	Insecure bool
	// InsecureTransport calls executors over plain TCP rather than TLS
	// derived from the secret ("cluster.insecureTransport").
	InsecureTransport bool
	// ClusterBind is the driver's gossip address on a cluster master
	// ("cluster.bind"); executors must reach it.
	ClusterBind string
	// ClusterAdvertise is the host executors reach the driver by, when
	// the bind address is unspecified or behind NAT
	// ("cluster.advertise").
	ClusterAdvertise string
	// ExecutorWait bounds how long a cluster session waits for its
	// executors when it starts, and a task's wait while there is no
	// executor at all ("cluster.executorWait").
	ExecutorWait time.Duration
	// MinExecutors is how many executors an ember:// session waits for
	// before it runs jobs ("cluster.minExecutors"); 0 means one.
	MinExecutors int
	// ExecutorMemory is the memory the session needs of each executor
	// ("executor.memory"); executors offering less are not used.
	ExecutorMemory int64
	// HeartbeatInterval is how often executors tell the driver they are
	// alive ("executor.heartbeatInterval"), and HeartbeatTimeout the
	// silence after which the driver counts one lost
	// ("executor.heartbeatTimeout").
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// UIPort is where the driver serves its web UI, status API and
	// metrics ("ui.port"); negative: no server.
	UIPort int
	// UIBind is the host the status server listens on ("ui.bind").
	UIBind string
	// UIRetainedJobs is how many jobs the web UI and the status API keep
	// ("ui.retainedJobs").
	UIRetainedJobs int
	// GCMinHeap is the Go heap goal below which the garbage collector
	// does not run ("gc.minHeap"); negative: off.
	GCMinHeap int64
	// LocalityWait is how long a task waits for a slot on the executor
	// that holds its cached input ("locality.wait"); negative: no wait.
	LocalityWait time.Duration
}

// Defaults that DefaultConfig fills in.
const (
	DefaultMaster      = "local[*]"
	DefaultBatchSize   = 512
	DefaultMemoryLimit = 1 << 30
	// DefaultMaxLineLength is Config.MaxLineLength's default.
	DefaultMaxLineLength = 64 << 20
	// DefaultMaxResultSize is Spark's spark.driver.maxResultSize.
	DefaultMaxResultSize = 1 << 30
	DefaultCompression   = "lz4"
	// DefaultClusterBind lets executors on other machines reach the
	// driver; local-cluster masters bind to loopback instead.
	DefaultClusterBind  = scheduler.DefaultClusterBind
	DefaultExecutorWait = scheduler.DefaultExecutorWait
)

// DefaultConfig returns the configuration a Session has when no option
// changes it.
func DefaultConfig() Config {
	return Config{
		Master:             DefaultMaster,
		TaskMaxFailures:    scheduler.DefaultMaxFailures,
		StageMaxAttempts:   scheduler.DefaultMaxStageAttempts,
		ShuffleCompression: DefaultCompression,
		MemoryLimit:        DefaultMemoryLimit,
		MaxResultSize:      DefaultMaxResultSize,
		MaxLineLength:      DefaultMaxLineLength,
		BatchSize:          DefaultBatchSize,
		ClusterBind:        DefaultClusterBind,
		ExecutorWait:       DefaultExecutorWait,
		LocalityWait:       scheduler.DefaultLocalityWait,
		HeartbeatInterval:  scheduler.DefaultHeartbeatInterval,
		HeartbeatTimeout:   scheduler.DefaultHeartbeatTimeout,
		UIPort:             DefaultUIPort,
		UIBind:             "127.0.0.1",
		UIRetainedJobs:     status.DefaultRetainedJobs,
		GCMinHeap:          gctune.DefaultFloor,
	}
}

// DefaultUIPort is Spark's.
const DefaultUIPort = 4040

// An Option changes a Session's configuration.
type Option func(*Config) error

// WithMaster sets the master URL.
func WithMaster(url string) Option {
	return func(c *Config) error { c.Master = url; return nil }
}

// WithConfig replaces the whole configuration; zero fields take defaults.
func WithConfig(cfg Config) Option {
	return func(c *Config) error { *c = cfg; return nil }
}

// WithConf sets one setting by its key, as Spark's SparkConf.set does.
// docs/configuration.md describes the keys.
func WithConf(key, value string) Option {
	return func(c *Config) error { return settings.Set(c, key, value) }
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	c.Master = cmp.Or(c.Master, d.Master)
	c.TaskMaxFailures = cmp.Or(c.TaskMaxFailures, d.TaskMaxFailures)
	c.StageMaxAttempts = cmp.Or(c.StageMaxAttempts, d.StageMaxAttempts)
	c.ShuffleCompression = cmp.Or(c.ShuffleCompression, d.ShuffleCompression)
	c.MemoryLimit = cmp.Or(c.MemoryLimit, d.MemoryLimit)
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.ClusterBind = cmp.Or(c.ClusterBind, d.ClusterBind)
	c.ExecutorWait = cmp.Or(c.ExecutorWait, d.ExecutorWait)
	c.LocalityWait = cmp.Or(c.LocalityWait, d.LocalityWait)
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, d.HeartbeatInterval)
	c.HeartbeatTimeout = cmp.Or(c.HeartbeatTimeout, d.HeartbeatTimeout)
	c.UIPort = cmp.Or(c.UIPort, d.UIPort)
	c.UIBind = cmp.Or(c.UIBind, d.UIBind)
	c.UIRetainedJobs = cmp.Or(c.UIRetainedJobs, d.UIRetainedJobs)
	c.GCMinHeap = cmp.Or(c.GCMinHeap, d.GCMinHeap)
	c.MaxResultSize = cmp.Or(c.MaxResultSize, d.MaxResultSize)
	switch {
	case c.TaskMaxFailures < 0:
		return c, config.Invalid("task.maxFailures", "is %d: want at least 1", c.TaskMaxFailures)
	case c.StageMaxAttempts < 0:
		return c, config.Invalid("stage.maxAttempts", "is %d: want at least 1", c.StageMaxAttempts)
	case c.DefaultParallelism < 0:
		return c, config.Invalid("default.parallelism", "is %d: want at least 1, or 0 for the master's slot count", c.DefaultParallelism)
	case c.MemoryLimit < 0:
		return c, config.Invalid("storage.memoryLimit", "is %d: want a positive byte count", c.MemoryLimit)
	case c.MemoryBudget < 0 || c.MemoryBudget > 0 && c.MemoryBudget < storage.MinBudget:
		return c, config.Invalid("memory.limit", "is %d: want at least %d (8 MiB), or 0 to size it from the machine", c.MemoryBudget, storage.MinBudget)
	case c.BatchSize < 0:
		return c, config.Invalid("batch.size", "is %d: want at least 1", c.BatchSize)
	case c.ExecutorMemory < 0:
		return c, config.Invalid("executor.memory", "is %d: want a positive byte count", c.ExecutorMemory)
	case c.MinExecutors < 0:
		return c, config.Invalid("cluster.minExecutors", "is %d: want 0 or more", c.MinExecutors)
	case c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0:
		return c, config.Invalid("executor.heartbeatInterval", "%v and executor.heartbeatTimeout %v: want positive durations", c.HeartbeatInterval, c.HeartbeatTimeout)
	case c.HeartbeatTimeout <= c.HeartbeatInterval:
		return c, config.Invalid("executor.heartbeatTimeout", "%v is not longer than executor.heartbeatInterval %v: executors would be lost while alive", c.HeartbeatTimeout, c.HeartbeatInterval)
	case c.UIRetainedJobs < 0:
		return c, config.Invalid("ui.retainedJobs", "is %d: want at least 1", c.UIRetainedJobs)
	case c.ExecutorWait < 0:
		return c, config.Invalid("cluster.executorWait", "is %v: want a positive duration", c.ExecutorWait)
	}
	if _, err := scheduler.ParseMaster(c.Master); err != nil {
		return c, &config.KeyError{Key: "master", Err: err}
	}
	if _, err := c.compression(); err != nil {
		return c, &config.KeyError{Key: "shuffle.compression", Err: err}
	}
	return c, nil
}

func (c Config) compression() (shuffle.Compression, error) {
	switch strings.ToLower(c.ShuffleCompression) {
	case "lz4":
		return shuffle.LZ4, nil
	case "zstd":
		return shuffle.ZSTD, nil
	case "none":
		return shuffle.NoCompression, nil
	}
	return 0, fmt.Errorf("shuffle.compression is %q: want lz4, zstd or none", c.ShuffleCompression)
}

// engineConfig is the engines' share of the configuration.
func (c Config) engineConfig() scheduler.EngineConfig {
	comp, _ := c.compression() // checked by withDefaults
	return scheduler.EngineConfig{
		Master:           c.Master,
		MaxFailures:      c.TaskMaxFailures,
		MaxStageAttempts: c.StageMaxAttempts,
		ShuffleDir:       c.ShuffleDir,
		Compression:      comp,
		MemoryLimit:      c.MemoryLimit,
		MemoryBudget:     c.MemoryBudget,
		Cluster: scheduler.StandaloneConfig{
			Fingerprint:       registry.fingerprint(),
			SecretFile:        c.SecretFile,
			Insecure:          c.Insecure,
			InsecureTransport: c.InsecureTransport,
			TLSCert:           c.TLSCert,
			TLSKey:            c.TLSKey,
			TLSCA:             c.TLSCA,
			Bind:              c.ClusterBind,
			Advertise:         c.ClusterAdvertise,
			ExecutorWait:      c.ExecutorWait,
			MinExecutors:      c.MinExecutors,
			ExecutorMemory:    c.ExecutorMemory,
			LocalityWait:      c.LocalityWait,
			HeartbeatInterval: c.HeartbeatInterval,
			HeartbeatTimeout:  c.HeartbeatTimeout,
		},
	}
}
