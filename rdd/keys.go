package rdd

import (
	"time"

	"github.com/ember-go/ember/internal/config"
)

// settings is the table of Config's keys: what WithConf sets, what the
// CLI loads in layers and what docs/configuration.md lists.
var settings = &config.Table[Config]{
	Keys:     keys,
	Defaults: DefaultConfig,
	Check: func(c Config) error {
		_, err := c.withDefaults()
		return err
	},
}

func init() { config.Register(settings) }

var keys = []config.Key[Config]{
	config.Text("master", "where tasks run: `local` (1 slot), `local[N]`, `local[*]` (a slot per CPU), `local-cluster[N]`, `local-cluster[N,C]` or `local-cluster[N,C,M]` (N executor processes of this program on loopback, C slots and M MiB each), `ember://host:port,…` (a standalone cluster, joined through these gossip addresses)",
		func(c *Config) *string { return &c.Master }),
	config.Integer("default.parallelism", "partitions of sources built with `numPartitions <= 0`; 0 means the master's task slots",
		func(c *Config) *int { return &c.DefaultParallelism }),
	config.Integer("task.maxFailures", "failed attempts of a task before its job fails; attempts that end with a lost executor do not count unless it exited by itself (a crash), up to four times as many attempts in all",
		func(c *Config) *int { return &c.TaskMaxFailures }),
	config.Integer("stage.maxAttempts", "runs of a stage whose input map output keeps getting lost, before its job fails",
		func(c *Config) *int { return &c.StageMaxAttempts }),
	config.Text("shuffle.dir", "where the driver's shuffle files go (local masters); empty: a new temporary directory. The session removes its files on Close",
		func(c *Config) *string { return &c.ShuffleDir }),
	config.Text("shuffle.compression", "`lz4`, `zstd` or `none`, for shuffle files",
		func(c *Config) *string { return &c.ShuffleCompression }),
	config.Size("storage.memoryLimit", "bytes of cached partitions kept in memory before the least recently used are evicted (local masters): a count, or with a `k`, `m` or `g` suffix",
		func(c *Config) *int64 { return &c.MemoryLimit }),
	config.Size("memory.limit", "bytes that tasks' execution memory (sort buffers, hash tables) and cached blocks share in the driver's process, in local mode; operators spill to disk beyond their share. 0: 40% of the process's cgroup limit, GOMEMLIMIT or physical memory, in that order. At least 8m. Executors size theirs from `--memory`",
		func(c *Config) *int64 { return &c.MemoryBudget }),
	config.Size("input.maxLineLength", "bytes a line of a `TextFile` or `CSVFile` input may have: a longer one fails its task with the file and offset, instead of growing a buffer without bound (a file without newlines, a decompression bomb)",
		func(c *Config) *int64 { return &c.MaxLineLength }),
	config.SizeOrOff("driver.maxResultSize", "bytes of results an action (Collect, Take, …) may bring to the driver, encoded, before it fails; `off`: no bound",
		func(c *Config) *int64 { return &c.MaxResultSize }),
	config.Integer("batch.size", "elements passed at a time through a stage's operators",
		func(c *Config) *int { return &c.BatchSize }),
	config.Text("cluster.secretFile", "file holding the cluster secret of an `ember://` master (empty: `EMBER_SECRET`, or for seeds all on loopback the user's loopback secret `ember/secret` under `$XDG_CONFIG_HOME` or `~/.config`); keys of at least 16 bytes, one per line while it is rotated",
		func(c *Config) *string { return &c.SecretFile }),
	config.Boolean("cluster.insecure", "let an `ember://` session gossip beyond loopback without a secret",
		func(c *Config) *bool { return &c.Insecure }),
	config.Boolean("cluster.insecureTransport", "call executors over plain TCP instead of TLS derived from the secret (executors then need `--insecure-transport`): the traffic can be read on the network",
		func(c *Config) *bool { return &c.InsecureTransport }),
	config.Text("tls.ca", "PEM file of the CA that signed the executors' certificates: turns TLS on for calls to executors",
		func(c *Config) *string { return &c.TLSCA }),
	config.Text("tls.cert", "PEM certificate of the driver, for executors that require client certificates",
		func(c *Config) *string { return &c.TLSCert }),
	config.Text("tls.key", "PEM key of `tls.cert`",
		func(c *Config) *string { return &c.TLSKey }),
	config.Text("cluster.bind", "the driver's gossip address on a cluster master; executors must reach it (`127.0.0.1:0` is used when every seed is on loopback)",
		func(c *Config) *string { return &c.ClusterBind }),
	config.Text("cluster.advertise", "the host executors reach the driver by, when the bind address is unspecified or behind NAT; empty: a local address",
		func(c *Config) *string { return &c.ClusterAdvertise }),
	config.Duration("cluster.executorWait", "how long a cluster session waits for its executors when it starts, and a task waits while there is no executor at all",
		func(c *Config) *time.Duration { return &c.ExecutorWait }),
	config.Integer("cluster.minExecutors", "executors an `ember://` session waits for before it runs jobs (0: one)",
		func(c *Config) *int { return &c.MinExecutors }),
	config.Size("executor.memory", "memory a cluster session needs of each executor; executors offering less are not used; 0 asks for nothing",
		func(c *Config) *int64 { return &c.ExecutorMemory }),
	config.Duration("executor.heartbeatInterval", "how often executors tell the driver they are alive",
		func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
	config.Duration("executor.heartbeatTimeout", "silence after which the driver counts an executor lost; longer than the interval",
		func(c *Config) *time.Duration { return &c.HeartbeatTimeout }),
	config.Integer("ui.port", "where the driver serves its web UI, JSON status API (`/api/v1/jobs`, `/stages`, `/executors`, `/storage`) and Prometheus `/metrics`; if taken, the next free port up to 16 on, or else any; negative: no server",
		func(c *Config) *int { return &c.UIPort }),
	config.Text("ui.bind", "the host the driver's status server listens on (loopback by default); on any other host it answers only with a token, given in the log at start: derived from the secret when the session has one (`ember ui-token` prints it), else random",
		func(c *Config) *string { return &c.UIBind }),
	config.SizeOrOff("gc.minHeap", "the Go heap goal below which the garbage collector does not run in the driver's process (executors keep the same default): jobs allocate fast and keep little, and Go's default goal of twice the live heap makes it collect hundreds of times a second; at most half of `GOMEMLIMIT` and an eighth of the process's memory limit (its cgroup's); `off` leaves the collector alone, as does `GOGC` set in the environment (of the driver or an executor)",
		func(c *Config) *int64 { return &c.GCMinHeap }),
	config.Integer("ui.retainedJobs", "how many jobs the web UI and the status API keep, with their stages and tasks; older finished ones are forgotten",
		func(c *Config) *int { return &c.UIRetainedJobs }),
	config.Duration("locality.wait", "how long a task waits for a slot on the executor that holds its cached input; negative: no wait",
		func(c *Config) *time.Duration { return &c.LocalityWait }),
}
