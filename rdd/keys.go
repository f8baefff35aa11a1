package rdd

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ember-go/ember/internal/bytesize"
)

// ConfigKey is one configuration key: its name, what it means, and how it reads
// and writes its field of Config. ConfigKeys lists them all; docs/configuration.md
// is generated from that list.
type ConfigKey struct {
	Name string
	Doc  string
	set  func(c *Config, value string) error
	get  func(c Config) string
}

// Get returns the key's value in c, written as WithConf reads it.
func (k ConfigKey) Get(c Config) string { return k.get(c) }

// ConfigKeys returns every configuration key, in the order the documentation
// lists them.
func ConfigKeys() []ConfigKey { return keys }

// keyByName finds a key, ignoring case (configuration files are often
// written in lower case).
func keyByName(name string) (ConfigKey, bool) {
	for _, k := range keys {
		if k.Name == name {
			return k, true
		}
	}
	for _, k := range keys {
		if strings.EqualFold(k.Name, name) {
			return k, true
		}
	}
	return ConfigKey{}, false
}

var keys = []ConfigKey{
	text("master", "where tasks run: `local` (1 slot), `local[N]`, `local[*]` (a slot per CPU), `local-cluster[N]` or `local-cluster[N,C]` (N executor processes of this program on loopback, C slots each), `ember://host:port,…` (a standalone cluster, joined through these gossip addresses)",
		func(c *Config) *string { return &c.Master }),
	integer("default.parallelism", "partitions of sources built with `numPartitions <= 0`; 0 means the master's task slots",
		func(c *Config) *int { return &c.DefaultParallelism }),
	integer("task.maxFailures", "failed attempts of a task before its job fails; attempts that end with a lost executor do not count, up to four times as many attempts in all",
		func(c *Config) *int { return &c.TaskMaxFailures }),
	integer("stage.maxAttempts", "runs of a stage whose input map output keeps getting lost, before its job fails",
		func(c *Config) *int { return &c.StageMaxAttempts }),
	text("shuffle.dir", "where the driver's shuffle files go (local masters); empty: a new temporary directory. The session removes its files on Close",
		func(c *Config) *string { return &c.ShuffleDir }),
	text("shuffle.compression", "`lz4`, `zstd` or `none`, for shuffle files",
		func(c *Config) *string { return &c.ShuffleCompression }),
	size("storage.memoryLimit", "bytes of cached partitions kept in memory before the least recently used are evicted (local masters): a count, or with a `k`, `m` or `g` suffix",
		func(c *Config) *int64 { return &c.MemoryLimit }),
	integer("batch.size", "elements passed at a time through a stage's operators",
		func(c *Config) *int { return &c.BatchSize }),
	text("cluster.secretFile", "file holding the cluster secret of an `ember://` master (empty: `EMBER_SECRET`); keys of at least 16 bytes, one per line while it is rotated",
		func(c *Config) *string { return &c.SecretFile }),
	boolean("cluster.insecure", "let an `ember://` session gossip beyond loopback without a secret",
		func(c *Config) *bool { return &c.Insecure }),
	text("tls.ca", "PEM file of the CA that signed the executors' certificates: turns TLS on for calls to executors",
		func(c *Config) *string { return &c.TLSCA }),
	text("tls.cert", "PEM certificate of the driver, for executors that require client certificates",
		func(c *Config) *string { return &c.TLSCert }),
	text("tls.key", "PEM key of `tls.cert`",
		func(c *Config) *string { return &c.TLSKey }),
	text("cluster.bind", "the driver's gossip address on a cluster master; executors must reach it (`127.0.0.1:0` is used when every seed is on loopback)",
		func(c *Config) *string { return &c.ClusterBind }),
	text("cluster.advertise", "the host executors reach the driver by, when the bind address is unspecified or behind NAT; empty: a local address",
		func(c *Config) *string { return &c.ClusterAdvertise }),
	duration("cluster.executorWait", "how long a cluster session waits for its executors when it starts, and a task waits while there is no executor at all",
		func(c *Config) *time.Duration { return &c.ExecutorWait }),
	integer("cluster.minExecutors", "executors an `ember://` session waits for before it runs jobs (0: one)",
		func(c *Config) *int { return &c.MinExecutors }),
	size("executor.memory", "memory a cluster session needs of each executor; executors offering less are not used; 0 asks for nothing",
		func(c *Config) *int64 { return &c.ExecutorMemory }),
	duration("executor.heartbeatInterval", "how often executors tell the driver they are alive",
		func(c *Config) *time.Duration { return &c.HeartbeatInterval }),
	duration("executor.heartbeatTimeout", "silence after which the driver counts an executor lost; longer than the interval",
		func(c *Config) *time.Duration { return &c.HeartbeatTimeout }),
	integer("ui.port", "where the driver serves its web UI, JSON status API (`/api/v1/jobs`, `/stages`, `/executors`, `/storage`) and Prometheus `/metrics`; if taken, the next free port up to 16 on, or else any; negative: no server",
		func(c *Config) *int { return &c.UIPort }),
	text("ui.bind", "the host the driver's status server listens on; loopback by default, since it is read without the secret",
		func(c *Config) *string { return &c.UIBind }),
	sizeOrOff("gc.minHeap", "the Go heap goal below which the garbage collector does not run in the driver's process (executors keep the same default): jobs allocate fast and keep little, and Go's default goal of twice the live heap makes it collect hundreds of times a second; at most half of `GOMEMLIMIT`; `off` leaves the collector alone, as does `GOGC` set in the environment (of the driver or an executor)",
		func(c *Config) *int64 { return &c.GCMinHeap }),
	integer("ui.retainedJobs", "how many jobs the web UI and the status API keep, with their stages and tasks; older finished ones are forgotten",
		func(c *Config) *int { return &c.UIRetainedJobs }),
	duration("locality.wait", "how long a task waits for a slot on the executor that holds its cached input; negative: no wait",
		func(c *Config) *time.Duration { return &c.LocalityWait }),
}

func text(name, doc string, field func(*Config) *string) ConfigKey {
	return ConfigKey{Name: name, Doc: doc,
		set: func(c *Config, v string) error { *field(c) = v; return nil },
		get: func(c Config) string { return *field(&c) }}
}

func integer(name, doc string, field func(*Config) *int) ConfigKey {
	return ConfigKey{Name: name, Doc: doc,
		set: func(c *Config, v string) (err error) {
			*field(c), err = strconv.Atoi(v)
			if err != nil {
				err = fmt.Errorf("want an integer")
			}
			return err
		},
		get: func(c Config) string { return strconv.Itoa(*field(&c)) }}
}

func size(name, doc string, field func(*Config) *int64) ConfigKey {
	return ConfigKey{Name: name, Doc: doc,
		set: func(c *Config, v string) (err error) { *field(c), err = bytesize.Parse(v); return err },
		get: func(c Config) string { return bytesize.Format(*field(&c)) }}
}

// sizeOrOff is a size key that also takes "off", stored as -1.
func sizeOrOff(name, doc string, field func(*Config) *int64) ConfigKey {
	k := size(name, doc, field)
	set, get := k.set, k.get
	k.set = func(c *Config, v string) error {
		if strings.EqualFold(v, "off") {
			*field(c) = -1
			return nil
		}
		return set(c, v)
	}
	k.get = func(c Config) string {
		if *field(&c) < 0 {
			return "off"
		}
		return get(c)
	}
	return k
}

func duration(name, doc string, field func(*Config) *time.Duration) ConfigKey {
	return ConfigKey{Name: name, Doc: doc,
		set: func(c *Config, v string) (err error) {
			*field(c), err = time.ParseDuration(v)
			if err != nil {
				err = fmt.Errorf("want a duration such as 500ms or 30s")
			}
			return err
		},
		get: func(c Config) string { return field(&c).String() }}
}

func boolean(name, doc string, field func(*Config) *bool) ConfigKey {
	return ConfigKey{Name: name, Doc: doc,
		set: func(c *Config, v string) (err error) {
			*field(c), err = strconv.ParseBool(v)
			if err != nil {
				err = fmt.Errorf("want true or false")
			}
			return err
		},
		get: func(c Config) string { return strconv.FormatBool(*field(&c)) }}
}

// ConfigMarkdown is the table of keys in docs/configuration.md: key,
// environment variable, default and meaning.
func ConfigMarkdown() string {
	var b strings.Builder
	def := DefaultConfig()
	b.WriteString("| key | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, k := range keys {
		d := k.get(def)
		switch {
		case d == "":
			d = "none"
		default:
			d = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Name, EnvKey(k.Name), d, k.Doc)
	}
	return b.String()
}
