package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ember-go/ember/cmd/ember/internal/chaos"
	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/internal/membership"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// emberBinary builds the CLI once for the tests that run it as a process.
func emberBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ember-cli-test-*")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ember")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// executorProcess is a running `ember executor`.
type executorProcess struct {
	cmd    *exec.Cmd
	gossip string
	rpc    string
	exited chan error
}

var startedLine = regexp.MustCompile(`executor (\S+): gossip (\S+), rpc (\S+)`)

func startExecutor(t *testing.T, name, secretFile string, args ...string) *executorProcess {
	t.Helper()
	return startExecutorEnv(t, nil, name, secretFile, args...)
}

// startExecutorEnv starts an executor with env added to the environment.
func startExecutorEnv(t *testing.T, env []string, name, secretFile string, args ...string) *executorProcess {
	t.Helper()
	cmd := exec.Command(emberBinary(t), append([]string{"executor", "--name", name, "--bind", "127.0.0.1:0", "--rpc-bind", "127.0.0.1:0",
		"--cores", "2", "--memory", "256m", "--secret-file", secretFile, "--gossip-profile", "local", "--work-dir", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &executorProcess{cmd: cmd, exited: make(chan error, 1)}
	t.Cleanup(func() {
		// SIGTERM: the executor leaves and removes its files.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-p.exited
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
		p.exited <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		m := startedLine.FindStringSubmatch(line)
		if !ok || m == nil {
			t.Fatalf("executor %s did not start: %q\n%s", name, line, stderr.String())
		}
		p.gossip, p.rpc = m[2], m[3]
	case <-time.After(60 * time.Second):
		t.Fatalf("executor %s did not start within 60 s\n%s", name, stderr.String())
	}
	return p
}

func TestExecutorProcesses(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("an executor process test secret\n"), 0o600)

	first := startExecutor(t, "exec-1", secretFile)
	second := startExecutor(t, "exec-2", secretFile, "--join", first.gossip)
	third := startExecutor(t, "exec-3", secretFile, "--join", second.gossip)

	driver, err := membership.Start(context.Background(), membership.Config{
		Name: "driver", BindAddr: "127.0.0.1", Seeds: []string{first.gossip}, Secret: []byte("an executor process test secret"),
		Profile: "local", Meta: membership.Meta{Role: membership.Driver},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Close(time.Second)
	events := driver.Watch()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := driver.WaitExecutors(ctx, 3); err != nil {
		t.Fatal(err)
	}

	// kill -9: the others notice it stopped answering.
	killed := time.Now()
	second.cmd.Process.Signal(syscall.SIGKILL)
	waitEvent(t, events, "exec-2", membership.Failed)
	t.Logf("a SIGKILLed executor was declared failed after %v", time.Since(killed).Round(time.Millisecond))

	// SIGTERM: it leaves and exits cleanly. (Whether the driver sees Leave
	// or Failed depends on whether exec-3 had heard of the driver yet;
	// package membership tests the goodbye itself.)
	third.cmd.Process.Signal(syscall.SIGTERM)
	waitEvent(t, events, "exec-3", membership.Leave, membership.Failed)
	select {
	case err := <-third.exited:
		if err != nil {
			t.Fatalf("executor exited after SIGTERM with %v, want success", err)
		}
		third.exited <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("executor still running 30 s after SIGTERM")
	}
	if execs := driver.Executors(); len(execs) != 1 || execs[0].Name != "exec-1" {
		t.Fatalf("executors left: %+v, want exec-1 alone", execs)
	}

	// A node with another secret cannot join, and says so.
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("not the cluster secret at all"), 0o600)
	out, err := exec.Command(emberBinary(t), "executor", "--bind", "127.0.0.1:0", "--rpc-bind", "127.0.0.1:0", "--secret-file", wrong,
		"--join", first.gossip, "--join-timeout", "1s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no seed member answered") || !strings.Contains(string(out), first.gossip) {
		t.Fatalf("an executor with the wrong secret: %v\n%s", err, out)
	}
}

// waitEvent waits for an event of one of kinds about name.
func waitEvent(t *testing.T, events <-chan membership.Event, name string, kinds ...membership.EventKind) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Node.Name == name && slices.Contains(kinds, e.Kind) {
				return
			}
		case <-timeout:
			t.Fatalf("no %v event for %s within 60 s", kinds, name)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// runProcess runs the CLI binary and returns its standard output.
func runProcess(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(emberBinary(t), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ember %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// resultLines drops the lines of a run's output that differ between
// masters: timings and the executors that wrote the parts.
func resultLines(out string) string {
	var keep []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "time:") || strings.Contains(line, " wrote part-") || strings.Contains(line, "saved in") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "")
}

// writers returns the executors named in a run's " wrote part-" lines.
func writers(out string) map[string]bool {
	w := map[string]bool{}
	for line := range strings.Lines(out) {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), " wrote part-"); ok {
			w[name] = true
		}
	}
	return w
}

func TestClusterMasters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	dir := t.TempDir()
	jobs := [][]string{
		{"run", "dotproduct", "--size", "300000", "--partitions", "6"},
		{"run", "wordcount", "--bytes", "2000000", "--partitions", "5", "--top", "20"},
	}
	want := make([]string, len(jobs))
	for i, job := range jobs {
		out := "--out"
		if i > 0 {
			out = "--output"
		}
		want[i] = resultLines(runProcess(t, append(slices.Clone(job), "--master", "local[3]", out, filepath.Join(dir, "local", strconv.Itoa(i)))...))
	}

	check := func(t *testing.T, master string, extra ...string) {
		for i, job := range jobs {
			out := filepath.Join(dir, strings.NewReplacer("[", "", "]", "", ":", "", "/", "").Replace(master), strconv.Itoa(i))
			args := append(slices.Clone(job), "--master", master)
			if i == 0 {
				args = append(args, "--out", out)
			} else {
				args = append(args, "--output", out)
			}
			got := runProcess(t, append(args, extra...)...)
			if resultLines(got) != want[i] {
				t.Errorf("%s on %s:\n%s\nwant (local[3]):\n%s", job[1], master, got, want[i])
			}
			if w := writers(got); len(w) < 2 {
				t.Errorf("%s on %s: parts written by %v, want at least two executors:\n%s", job[1], master, w, got)
			}
		}
	}
	t.Run("local-cluster", func(t *testing.T) { check(t, "local-cluster[3]") })

	t.Run("standalone", func(t *testing.T) {
		clusterDir := t.TempDir()
		c, err := chaos.StartCluster(context.Background(), emberBinary(t), clusterDir, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		secretFile, seed := c.SecretFile(), c.Live()[0].Gossip
		check(t, c.Master(), "--conf", "cluster.secretFile="+secretFile, "--conf", "cluster.bind=127.0.0.1:0", "--conf", "cluster.minExecutors=3")

		// A program the executors were not started from: its binary is
		// shipped to them and runs as a worker.
		shipped := filepath.Join(dir, "shipped")
		if out, err := exec.Command("go", "build", "-o", shipped, "./testdata/shipped").CombinedOutput(); err != nil {
			t.Fatalf("build the shipped program: %v\n%s", err, out)
		}
		secret, err := os.ReadFile(secretFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(shipped, c.Master(), "3")
		cmd.Env = append(os.Environ(), "EMBER_SECRET="+string(secret))
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "squares by residue: ok") || !strings.Contains(string(out), "join and sort: ok") || !strings.Contains(string(out), "crashed workers: ok") || strings.Contains(string(out), "ran on 1 executors") {
			t.Errorf("a shipped program: %v\n%s", err, out)
		}
		// Its application over, no executor keeps the program (their
		// work directories are given with --work-dir).
		var left []string
		if !await.Until(30*time.Second, func() bool {
			left, _ = filepath.Glob(filepath.Join(clusterDir, "executor-*", "programs", "*"))
			return len(left) == 0
		}) {
			t.Errorf("30 s after the shipped program ended, its executors keep %v", left)
		}

		// A driver with another secret cannot join, and names the seeds.
		wrong := filepath.Join(dir, "wrong")
		os.WriteFile(wrong, []byte("not the cluster secret at all"), 0o600)
		cmd = exec.Command(emberBinary(t), "run", "dotproduct", "--size", "1000", "--master", "ember://"+seed,
			"--conf", "cluster.secretFile="+wrong, "--conf", "cluster.bind=127.0.0.1:0", "--conf", "cluster.executorWait=2s")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), seed) {
			t.Errorf("a driver with the wrong secret: %v\n%s", err, out)
		}
	})
}

func TestProgramWithoutInit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	bin := filepath.Join(t.TempDir(), "noinit")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/noinit").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "exited at start") || !strings.Contains(string(out), "rdd.Init()") {
		t.Fatalf("a program without rdd.Init on local-cluster: %v\n%s", err, out)
	}
}

// TestChaos runs jobs on real executor processes while killing them with
// SIGKILL, at least 20 jobs and 20 kills: every result must equal local
// mode's, and every save must commit each part once.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills executor processes")
	}
	cmd := exec.Command(emberBinary(t), "chaos", "--executors", "4", "--jobs", "20", "--kills", "20", "--kill-every", "300ms", "--seed", "7")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0 results differing from local mode") {
		t.Fatalf("ember chaos: %v\n%s", err, out)
	}
	summary := regexp.MustCompile(`(\d+) jobs .*, (\d+) kills`).FindStringSubmatch(string(out))
	if summary == nil {
		t.Fatalf("no summary in:\n%s", out)
	}
	jobs, _ := strconv.Atoi(summary[1])
	kills, _ := strconv.Atoi(summary[2])
	if jobs < 20 || kills < 20 {
		t.Fatalf("%d jobs and %d kills, want at least 20 of each", jobs, kills)
	}
	t.Log(strings.TrimSpace(string(out[strings.LastIndex(strings.TrimSpace(string(out)), "\n")+1:])))
}

// TestChaosScenarios runs the targeted fault cases: a killed shuffle
// server, a kill during a save, all executors but one killed, all killed
// (the job fails clearly, within cluster.executorWait), all killed and new
// ones started (the job finishes).
func TestChaosScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills executor processes")
	}
	for _, sc := range []string{"fetch", "save", "all-but-one", "all", "all-then-new"} {
		t.Run(sc, func(t *testing.T) {
			cmd := exec.Command(emberBinary(t), "chaos", "--executors", "3", "--scenario", sc)
			cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "scenario "+sc+": ok") {
				t.Fatalf("ember chaos --scenario %s: %v\n%s", sc, err, out)
			}
		})
	}
}

func TestBenchRecoveryRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills executor processes")
	}
	cmd := exec.Command(emberBinary(t), "bench", "recovery", "--runs", "1", "--work", "200000", "--detections", "3")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "with one killed halfway") || !strings.Contains(string(out), "SIGKILL to loss, 3 kills") {
		t.Fatalf("ember bench recovery: %v\n%s", err, out)
	}
}

// Scripts rely on the exit status: 0 done, 1 failed, 2 a bad command line.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"version"}, 0},
		{[]string{"run", "dotproduct", "--bogus"}, 2},
		{[]string{"nosuch"}, 2},
		{[]string{"run", "nosuch"}, 2},
		{[]string{"bench", "nosuch"}, 2},
		{[]string{"bench", "cluster", "nosuch"}, 2},
		{[]string{"chaos", "--scenario", "nosuch"}, 2},
		{[]string{"--log-level", "loud", "version"}, 2},
		{[]string{"run", "dotproduct", "--master", "local[4"}, 2},
		{[]string{"run", "dotproduct", "--conf", "key"}, 2},
		{[]string{"run", "dotproduct", "--conf", "task.maxFailures=many"}, 2},
		{[]string{"run", "wordcount", "--format", "json"}, 2},
		{[]string{"run", "wordcount", "--input", filepath.Join(t.TempDir(), "missing")}, 1},
	} {
		err := exec.Command(emberBinary(t), tc.args...).Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		if code != tc.code {
			t.Errorf("ember %s: exit status %d, want %d (%v)", strings.Join(tc.args, " "), code, tc.code, err)
		}
	}
}

// An executor that cannot bind its ports exits with a non-zero status and
// says which address.
func TestExecutorBindFailure(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	out, err := exec.Command(emberBinary(t), "executor", "--bind", "127.0.0.1:0", "--rpc-bind", addr, "--work-dir", t.TempDir()).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), addr) {
		t.Errorf("an executor whose RPC address %s is taken: %v\n%s; want a non-zero exit naming the address", addr, err, out)
	}
}
