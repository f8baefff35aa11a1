package sysmem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupLimits(t *testing.T) {
	root := t.TempDir()
	proc := filepath.Join(root, "cgroup")
	fs := filepath.Join(root, "fs")

	// v1: the group's own limit, tighter than its parent's.
	write(t, proc, "4:memory:/jobs/one\n0::/\n")
	write(t, filepath.Join(fs, "memory/memory.limit_in_bytes"), "9223372036854771712\n")
	write(t, filepath.Join(fs, "memory/jobs/memory.limit_in_bytes"), "2147483648\n")
	write(t, filepath.Join(fs, "memory/jobs/one/memory.limit_in_bytes"), "536870912\n")
	if l, ok := cgroupLimit(proc, fs); !ok || l.Bytes != 512<<20 || !strings.Contains(l.Source, "v1") {
		t.Errorf("v1: %v, %v", l, ok)
	}
	// A parent's limit binds when the group has none.
	write(t, filepath.Join(fs, "memory/jobs/one/memory.limit_in_bytes"), "9223372036854771712\n")
	if l, ok := cgroupLimit(proc, fs); !ok || l.Bytes != 2<<30 {
		t.Errorf("v1 parent: %v, %v", l, ok)
	}

	// v2: memory.max, "max" meaning none.
	fs2 := filepath.Join(root, "fs2")
	write(t, proc, "0::/app\n")
	write(t, filepath.Join(fs2, "cgroup.controllers"), "memory\n")
	write(t, filepath.Join(fs2, "app/memory.max"), "max\n")
	if l, ok := cgroupLimit(proc, fs2); ok {
		t.Errorf("v2 without a limit: %v", l)
	}
	write(t, filepath.Join(fs2, "app/memory.max"), "1073741824\n")
	if l, ok := cgroupLimit(proc, fs2); !ok || l.Bytes != 1<<30 || !strings.Contains(l.Source, "v2") {
		t.Errorf("v2: %v, %v", l, ok)
	}
	// Malformed files are no limit, not an error.
	write(t, filepath.Join(fs2, "app/memory.max"), "lots\n")
	write(t, proc, "garbage")
	if l, ok := cgroupLimit(proc, fs2); ok {
		t.Errorf("malformed: %v", l)
	}
}

func TestFind(t *testing.T) {
	l := Find()
	if l.Bytes <= 0 || l.Source == "" {
		t.Fatalf("Find: %v", l)
	}
	if b, ok := physical("/proc/meminfo"); ok && l.Bytes > b {
		t.Errorf("Find: %v, more than physical memory %d", l, b)
	}
}
