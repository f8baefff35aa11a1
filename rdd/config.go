package rdd

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/ember-go/ember/internal/gctune"
	"github.com/ember-go/ember/internal/status"

	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
)

// Config holds every setting of a Session: each field is the key its
// comment names, and ConfigKeys (or docs/configuration.md, generated from
// it) says what each key means. DefaultConfig gives the defaults; the zero
// value of a field means its default.
type Config struct {
	Master             string // "master": local, local[N], local[*], local-cluster[N], ember://…; see ParseMaster
	DefaultParallelism int    // "default.parallelism"
	TaskMaxFailures    int    // "task.maxFailures"
	StageMaxAttempts   int    // "stage.maxAttempts"
	ShuffleDir         string // "shuffle.dir"
	ShuffleCompression string // "shuffle.compression"
	MemoryLimit        int64  // "storage.memoryLimit"
	BatchSize          int    // "batch.size"

	SecretFile             string        `json:"-"` // "cluster.secretFile"; the secret itself is never a setting
	TLSCert, TLSKey, TLSCA string        // "tls.cert", "tls.key", "tls.ca"
	Insecure               bool          // "cluster.insecure"
	ClusterBind            string        // "cluster.bind"
	ClusterAdvertise       string        // "cluster.advertise"
	ExecutorWait           time.Duration // "cluster.executorWait"
	MinExecutors           int           // "cluster.minExecutors"
	ExecutorMemory         int64         // "executor.memory"
	HeartbeatInterval      time.Duration // "executor.heartbeatInterval"
	HeartbeatTimeout       time.Duration // "executor.heartbeatTimeout"
	UIPort                 int           // "ui.port"
	UIBind                 string        // "ui.bind"
	UIRetainedJobs         int           // "ui.retainedJobs"
	GCMinHeap              int64         // "gc.minHeap"; negative: off
	LocalityWait           time.Duration // "locality.wait"
}

// Defaults that DefaultConfig fills in.
const (
	DefaultMaster      = "local[*]"
	DefaultBatchSize   = 512
	DefaultMemoryLimit = 1 << 30
	DefaultCompression = "lz4"
	// DefaultClusterBind lets executors on other machines reach the
	// driver; local-cluster masters bind to loopback instead.
	DefaultClusterBind  = scheduler.DefaultClusterBind
	DefaultExecutorWait = 30 * time.Second
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
// ConfigKeys lists the keys; docs/configuration.md describes them.
func WithConf(key, value string) Option {
	return func(c *Config) error {
		k, ok := keyByName(key)
		if !ok {
			return fmt.Errorf("unknown configuration key %q", key)
		}
		if err := k.set(c, value); err != nil {
			return fmt.Errorf("configuration key %q = %q: %w", k.Name, value, err)
		}
		return nil
	}
}

// keyError is a configuration value that does not check out, and its
// key, so that LoadConfig can say where the value came from.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// invalid is a keyError for key, whose message is key then format.
func invalid(key, format string, args ...any) error {
	return &keyError{key, fmt.Errorf(key+" "+format, args...)}
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
	switch {
	case c.TaskMaxFailures < 0:
		return c, invalid("task.maxFailures", "is %d: want at least 1", c.TaskMaxFailures)
	case c.StageMaxAttempts < 0:
		return c, invalid("stage.maxAttempts", "is %d: want at least 1", c.StageMaxAttempts)
	case c.DefaultParallelism < 0:
		return c, invalid("default.parallelism", "is %d: want at least 1, or 0 for the master's slot count", c.DefaultParallelism)
	case c.MemoryLimit < 0:
		return c, invalid("storage.memoryLimit", "is %d: want a positive byte count", c.MemoryLimit)
	case c.BatchSize < 0:
		return c, invalid("batch.size", "is %d: want at least 1", c.BatchSize)
	case c.ExecutorMemory < 0:
		return c, invalid("executor.memory", "is %d: want a positive byte count", c.ExecutorMemory)
	case c.MinExecutors < 0:
		return c, invalid("cluster.minExecutors", "is %d: want 0 or more", c.MinExecutors)
	case c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0:
		return c, invalid("executor.heartbeatInterval", "%v and executor.heartbeatTimeout %v: want positive durations", c.HeartbeatInterval, c.HeartbeatTimeout)
	case c.HeartbeatTimeout <= c.HeartbeatInterval:
		return c, invalid("executor.heartbeatTimeout", "%v is not longer than executor.heartbeatInterval %v: executors would be lost while alive", c.HeartbeatTimeout, c.HeartbeatInterval)
	case c.UIRetainedJobs < 0:
		return c, invalid("ui.retainedJobs", "is %d: want at least 1", c.UIRetainedJobs)
	case c.ExecutorWait < 0:
		return c, invalid("cluster.executorWait", "is %v: want a positive duration", c.ExecutorWait)
	}
	if _, err := scheduler.ParseMaster(c.Master); err != nil {
		return c, &keyError{"master", err}
	}
	if _, err := c.compression(); err != nil {
		return c, &keyError{"shuffle.compression", err}
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
		Cluster: scheduler.StandaloneConfig{
			Fingerprint:       registry.fingerprint(),
			SecretFile:        c.SecretFile,
			Insecure:          c.Insecure,
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
