package outofcore

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ember-go/ember/internal/await"
)

// memoryCgroup is a memory cgroup a test made, v1 or v2, removed when the
// test ends.
type memoryCgroup struct {
	dir string
	v2  bool
}

// newMemoryCgroup makes a memory cgroup limited to limit bytes, without
// swap, or skips the test saying why it cannot.
func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	name := fmt.Sprintf("ember-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	var cg *memoryCgroup
	switch {
	case hasController("/sys/fs/cgroup/cgroup.controllers", "memory"):
		cg = &memoryCgroup{dir: filepath.Join("/sys/fs/cgroup", name), v2: true}
	case writable("/sys/fs/cgroup/memory"):
		cg = &memoryCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", name)}
	default:
		t.Skip("no writable memory cgroup (v1 /sys/fs/cgroup/memory or v2 /sys/fs/cgroup with the memory controller): run as root")
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup: %v", err)
	}
	t.Cleanup(cg.remove)
	limitText := strconv.FormatInt(limit, 10)
	if cg.v2 {
		cg.write(t, "memory.max", limitText)
		cg.write(t, "memory.swap.max", "0")
	} else {
		cg.write(t, "memory.limit_in_bytes", limitText)
		if _, err := os.Stat(filepath.Join(cg.dir, "memory.memsw.limit_in_bytes")); err == nil {
			cg.write(t, "memory.memsw.limit_in_bytes", limitText)
		}
	}
	return cg
}

func (cg *memoryCgroup) write(t *testing.T, file, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0o644); err != nil {
		t.Fatalf("cgroup %s: %v", file, err)
	}
}

// command runs name with args inside the cgroup: a shell moves itself
// into it, then becomes the command, so that nothing runs outside.
func (cg *memoryCgroup) command(name string, args ...string) *exec.Cmd {
	script := `echo $$ > "$0" && exec "$@"`
	return exec.Command("/bin/sh", append([]string{"-c", script, filepath.Join(cg.dir, "cgroup.procs"), name}, args...)...)
}

// oomKills is how many processes the kernel killed in the cgroup for
// want of memory.
func (cg *memoryCgroup) oomKills() int {
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	data, _ := os.ReadFile(filepath.Join(cg.dir, file))
	for _, line := range strings.Split(string(data), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			k, _ := strconv.Atoi(strings.TrimSpace(n))
			return k
		}
	}
	return 0
}

// remove kills what still runs in the cgroup and removes it.
func (cg *memoryCgroup) remove() {
	await.Until(10*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return os.Remove(cg.dir) == nil || os.IsNotExist(os.Remove(cg.dir))
	})
}

func hasController(file, controller string) bool {
	data, err := os.ReadFile(file)
	return err == nil && strings.Contains(" "+string(bytes.TrimSpace(data))+" ", " "+controller+" ")
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		return true
	}
	// A cgroup file system takes no files, but directories: probe with one.
	probe := filepath.Join(dir, fmt.Sprintf("ember-probe-%d", os.Getpid()))
	if os.Mkdir(probe, 0o755) != nil {
		return false
	}
	os.Remove(probe)
	return true
}

// A sort, a join and a group-by over three times the memory of their
// cgroup finish with exact answers, in local mode and on a local cluster
// whose executors share the cgroup with 40 MiB budgets each, and the
// kernel kills nothing: the budget is sized from the cgroup's limit.
func TestOutOfCoreInAMemoryCgroup(t *testing.T) {
	if testing.Short() {
		t.Skip("sorts, joins and groups 800 MB in 256 MiB")
	}
	const limit = 256 << 20
	cg := newMemoryCgroup(t, limit)
	bin := filepath.Join(t.TempDir(), "job")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/job").CombinedOutput(); err != nil {
		t.Fatalf("build the out-of-core job: %v\n%s", err, out)
	}
	type job struct {
		name string
		n    int64 // elements: each job holds 3 × 256 MiB or more
	}
	sort, group, join := job{"sort", 100_000_000}, job{"group", 48_000_000}, job{"join", 24_000_000}
	runs := []struct {
		master string
		jobs   []job
	}{
		{"local[2]", []job{sort, group, join}},
		// Three processes share the cgroup here, each with its own
		// runtime. The group-by was once killed for memory here: the
		// driver held 128 MiB of garbage under the collector's floor,
		// which now stays under an eighth of the cgroup (docs/memory.md).
		{"local-cluster[2,1,40]", []job{sort, group, join}},
	}
	for _, run := range runs {
		master := run.master
		for _, job := range run.jobs {
			kills := cg.oomKills()
			start := time.Now()
			cmd := cg.command(bin, master, job.name, strconv.FormatInt(job.n, 10))
			cmd.Env = append(os.Environ(), "EMBER_LOG_LEVEL=warn")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), job.name+" ok") {
				t.Errorf("%s of %d on %s in %d MiB: %v (OOM kills: %d)\n%s", job.name, job.n, master, limit>>20, err, cg.oomKills()-kills, out)
				continue
			}
			if k := cg.oomKills() - kills; k > 0 {
				t.Errorf("%s on %s: the kernel killed %d processes for memory, though the job finished", job.name, master, k)
			}
			t.Logf("%s of %d on %s in %d MiB: %v", job.name, job.n, master, limit>>20, time.Since(start).Round(time.Second))
		}
	}
}
