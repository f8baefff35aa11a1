// Package chaos runs jobs on a cluster of real executor processes while it
// kills them with SIGKILL and starts new ones, and checks every result
// against local mode. `ember chaos` and the fault-tolerance tests use it.
package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ember-go/ember/rdd"
)

// Cluster is a set of `ember executor` processes on loopback that can be
// killed and restarted.
type Cluster struct {
	binary     string // the ember CLI
	secretFile string
	dir        string
	cores      int

	mu    sync.Mutex
	procs []*Executor // every one started, live or not
	seeds []string    // other members to join through, as a driver
}

// AddSeed makes executors started from now on also join through addr (a
// driver's gossip address), so that they reach the cluster even when every
// executor is gone.
func (c *Cluster) AddSeed(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seeds = append(c.seeds, addr)
}

// Executor is one executor process.
type Executor struct {
	Name, Gossip, RPC string
	cmd               *exec.Cmd
	exited            chan struct{}
}

// Live reports whether the process is running.
func (e *Executor) Live() bool {
	select {
	case <-e.exited:
		return false
	default:
		return true
	}
}

var startedLine = regexp.MustCompile(`executor (\S+): gossip (\S+), rpc (\S+)`)

// StartCluster starts n executors of binary (the ember CLI), cores slots
// each, sharing a new secret, with their files under dir.
func StartCluster(ctx context.Context, binary, dir string, n, cores int) (*Cluster, error) {
	c := &Cluster{binary: binary, dir: dir, cores: cores, secretFile: filepath.Join(dir, "secret")}
	if err := os.WriteFile(c.secretFile, []byte(fmt.Sprintf("chaos secret %d %d", os.Getpid(), time.Now().UnixNano())), 0o600); err != nil {
		return nil, err
	}
	for range n {
		if _, err := c.Start(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// startWithSession starts the cluster cfg describes and a driver session on it; stop
// closes both.
func startWithSession(ctx context.Context, cfg Config, opts ...rdd.Option) (c *Cluster, s *rdd.Session, stop func(), err error) {
	if c, err = StartCluster(ctx, cfg.Binary, cfg.Dir, cfg.Executors, cfg.Cores); err != nil {
		return nil, nil, nil, err
	}
	if s, err = c.Session(opts...); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return c, s, func() { s.Close(); c.Close() }, nil
}

// inLocalMode runs f on a local[2] session: what the cluster's answers are
// compared with.
func inLocalMode(f func(s *rdd.Session) error) error {
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// Session opens a driver session on the cluster, which waits for every
// live executor; executors started later may join through the driver.
func (c *Cluster) Session(opts ...rdd.Option) (*rdd.Session, error) {
	base := []rdd.Option{rdd.WithMaster(c.Master()),
		rdd.WithConf("cluster.secretFile", c.secretFile), rdd.WithConf("cluster.bind", "127.0.0.1:0"),
		rdd.WithConf("cluster.minExecutors", strconv.Itoa(len(c.Live())))}
	s, err := rdd.NewSession(append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	c.AddSeed(s.GossipAddr())
	return s, nil
}

// SecretFile holds the cluster's secret.
func (c *Cluster) SecretFile() string { return c.secretFile }

// Master returns an ember:// URL with every live executor as a seed.
func (c *Cluster) Master() string {
	var seeds []string
	for _, e := range c.Live() {
		seeds = append(seeds, e.Gossip)
	}
	return "ember://" + strings.Join(seeds, ",")
}

// Live returns the running executors.
func (c *Cluster) Live() []*Executor {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []*Executor
	for _, e := range c.procs {
		if e.Live() {
			live = append(live, e)
		}
	}
	return live
}

// Start starts one more executor, joined through a live one.
func (c *Cluster) Start(ctx context.Context) (*Executor, error) {
	c.mu.Lock()
	i := len(c.procs)
	c.mu.Unlock()
	l, err := c.launch(i)
	if err != nil {
		return nil, err
	}
	if err := l.await(ctx); err != nil {
		l.e.cmd.Process.Kill()
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, l.e)
	c.mu.Unlock()
	return l.e, nil
}

// A launch is an executor process started but not yet known to listen.
type launch struct {
	i     int // the executor's index in the cluster
	e     *Executor
	log   string        // where its standard error goes
	first <-chan string // its first line of output, if any, then closed
}

// launch starts the process of executor i.
func (c *Cluster) launch(i int) (*launch, error) {
	cmd := exec.Command(c.binary, c.executorArgs(i)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("executor-%d.log", i)))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	e := &Executor{cmd: cmd, exited: make(chan struct{})}
	return &launch{i: i, e: e, log: logFile.Name(), first: e.watch(stdout, logFile)}, nil
}

// executorArgs is the command line of executor i. It joins through the
// drivers as well as the live executors, so that it finds the cluster
// even when every executor is gone.
func (c *Cluster) executorArgs(i int) []string {
	args := []string{"executor", "--bind", "127.0.0.1:0", "--rpc-bind", "127.0.0.1:0", "--cores", strconv.Itoa(c.cores),
		"--memory", "512m", "--secret-file", c.secretFile, "--gossip-profile", "local",
		"--work-dir", filepath.Join(c.dir, fmt.Sprintf("executor-%d", i)), "--name", fmt.Sprintf("executor-%d", i)}
	c.mu.Lock()
	seeds := slices.Clone(c.seeds)
	c.mu.Unlock()
	for _, e := range c.Live() {
		seeds = append(seeds, e.Gossip)
	}
	if len(seeds) > 0 {
		args = append(args, "--join", strings.Join(seeds, ","))
	}
	return args
}

// watch returns the first line the executor writes, which says where it
// listens. It goes on reading the rest, lest the executor block on a full
// pipe, and marks the executor exited once the process is reaped.
func (e *Executor) watch(stdout io.Reader, logFile *os.File) <-chan string {
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
		e.cmd.Wait()
		logFile.Close()
		close(e.exited)
	}()
	return lines
}

// await waits for the executor to say its name and addresses, and records
// them.
func (l *launch) await(ctx context.Context) error {
	select {
	case line := <-l.first:
		m := startedLine.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("executor %d did not start (see %s): %q", l.i, l.log, line)
		}
		l.e.Name, l.e.Gossip, l.e.RPC = m[1], m[2], m[3]
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("executor %d did not start within 30 s (see %s)", l.i, l.log)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill sends SIGKILL to e and waits for it to die.
func (c *Cluster) Kill(e *Executor) error {
	if err := e.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-e.exited
	return nil
}

// Close stops every executor with SIGTERM (SIGKILL after 10 s).
func (c *Cluster) Close() {
	for _, e := range c.Live() {
		e.cmd.Process.Signal(syscall.SIGTERM)
	}
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	for _, e := range procs {
		select {
		case <-e.exited:
		case <-time.After(10 * time.Second):
			e.cmd.Process.Kill()
			<-e.exited
		}
	}
}
