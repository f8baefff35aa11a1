package rdd

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/ember-go/ember/internal/bytesize"
	"github.com/ember-go/ember/scheduler"
	"github.com/ember-go/ember/shuffle"
	"github.com/ember-go/ember/storage"
)

// Config holds every setting of a Session. DefaultConfig documents the
// defaults; the zero value of a field means its default.
type Config struct {
	// Master says where tasks run: "local" (one slot), "local[N]" (N
	// slots) or "local[*]" (one slot per CPU). Key "master".
	Master string
	// DefaultParallelism is the partition count of sources created with
	// numPartitions <= 0. Zero means the master's slot count. Key
	// "default.parallelism".
	DefaultParallelism int
	// TaskMaxFailures is how many attempts a task gets before its job
	// fails. Key "task.maxFailures".
	TaskMaxFailures int
	// ShuffleDir holds shuffle files; "" means a new temporary directory.
	// Either way the session removes its files on Close. Key "shuffle.dir".
	ShuffleDir string
	// ShuffleCompression is "lz4", "zstd" or "none". Key
	// "shuffle.compression".
	ShuffleCompression string
	// MemoryLimit is how many bytes of cached partitions the block manager
	// keeps in memory before it evicts the least recently used. Key
	// "storage.memoryLimit" (a byte count, or with a k, m or g suffix).
	MemoryLimit int64
	// BatchSize is how many elements flow through a stage's pipeline at a
	// time. Key "batch.size".
	BatchSize int
}

// Defaults that DefaultConfig fills in.
const (
	DefaultMaster      = "local[*]"
	DefaultBatchSize   = 512
	DefaultMemoryLimit = 1 << 30
	DefaultCompression = "lz4"
)

// DefaultConfig returns the configuration a Session has when no option
// changes it.
func DefaultConfig() Config {
	return Config{
		Master:             DefaultMaster,
		TaskMaxFailures:    scheduler.DefaultMaxFailures,
		ShuffleCompression: DefaultCompression,
		MemoryLimit:        DefaultMemoryLimit,
		BatchSize:          DefaultBatchSize,
	}
}

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
// Keys are listed on the fields of Config.
func WithConf(key, value string) Option {
	return func(c *Config) error {
		var err error
		switch key {
		case "master":
			c.Master = value
		case "default.parallelism":
			c.DefaultParallelism, err = strconv.Atoi(value)
		case "task.maxFailures":
			c.TaskMaxFailures, err = strconv.Atoi(value)
		case "shuffle.dir":
			c.ShuffleDir = value
		case "shuffle.compression":
			c.ShuffleCompression = value
		case "storage.memoryLimit":
			c.MemoryLimit, err = bytesize.Parse(value)
		case "batch.size":
			c.BatchSize, err = strconv.Atoi(value)
		default:
			return fmt.Errorf("unknown configuration key %q", key)
		}
		if err != nil {
			return fmt.Errorf("configuration key %q: %w", key, err)
		}
		return nil
	}
}

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Master == "" {
		c.Master = d.Master
	}
	if c.TaskMaxFailures == 0 {
		c.TaskMaxFailures = d.TaskMaxFailures
	}
	if c.ShuffleCompression == "" {
		c.ShuffleCompression = d.ShuffleCompression
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = d.MemoryLimit
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	switch {
	case c.TaskMaxFailures < 0:
		return c, fmt.Errorf("task.maxFailures is %d: want at least 1", c.TaskMaxFailures)
	case c.DefaultParallelism < 0:
		return c, fmt.Errorf("default.parallelism is %d: want at least 1, or 0 for the master's slot count", c.DefaultParallelism)
	case c.MemoryLimit < 0:
		return c, fmt.Errorf("storage.memoryLimit is %d: want a positive byte count", c.MemoryLimit)
	case c.BatchSize < 0:
		return c, fmt.Errorf("batch.size is %d: want at least 1", c.BatchSize)
	}
	if _, err := c.compression(); err != nil {
		return c, err
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

// ParseMaster returns the number of task slots a local master URL asks for.
func ParseMaster(url string) (slots int, err error) {
	switch {
	case url == "local":
		return 1, nil
	case url == "local[*]":
		return runtime.NumCPU(), nil
	case strings.HasPrefix(url, "local[") && strings.HasSuffix(url, "]"):
		n, err := strconv.Atoi(url[len("local[") : len(url)-1])
		if err != nil || n < 1 {
			return 0, fmt.Errorf("master %q: the slot count must be a positive integer or *", url)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown master %q: want local, local[N] or local[*]", url)
}

// storageConfig is the block manager's share of the configuration.
func (c Config) storageConfig() storage.Config {
	return storage.Config{MemoryLimit: c.MemoryLimit}
}
