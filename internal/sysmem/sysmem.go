// Package sysmem finds how much memory the running process may use: the
// limit of its memory cgroup (v1 or v2), the Go runtime's soft limit
// (GOMEMLIMIT), or the machine's physical memory, in that order.
package sysmem

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Limit is a memory limit and where it comes from.
type Limit struct {
	Bytes int64
	// Source says where: "cgroup v1 /sys/fs/cgroup/memory/…", "cgroup v2
	// …", "GOMEMLIMIT" or "physical memory".
	Source string
}

func (l Limit) String() string { return fmt.Sprintf("%d bytes (%s)", l.Bytes, l.Source) }

// Find returns the tightest limit that applies to this process, looked up
// in order: its cgroup's, GOMEMLIMIT, physical memory. A cgroup with no
// limit (v1's huge number, v2's "max") does not count.
func Find() Limit {
	if l, ok := cgroupLimit("/proc/self/cgroup", "/sys/fs/cgroup"); ok {
		return l
	}
	if soft := debug.SetMemoryLimit(-1); soft > 0 && soft < math.MaxInt64 {
		return Limit{soft, "GOMEMLIMIT"}
	}
	if b, ok := physical("/proc/meminfo"); ok {
		return Limit{b, "physical memory"}
	}
	return Limit{4 << 30, "a guess: no cgroup limit, GOMEMLIMIT or /proc/meminfo"}
}

// cgroupLimit reads the memory limit of the cgroup that procFile (the
// process's /proc/…/cgroup) names, under the cgroup file system at root.
// It walks up from the process's group, since a parent's limit binds too.
func cgroupLimit(procFile, root string) (Limit, bool) {
	data, err := os.ReadFile(procFile)
	if err != nil {
		return Limit{}, false
	}
	best := Limit{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file, version string
		switch {
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			dir, file, version = filepath.Join(root, "memory"), "memory.limit_in_bytes", "v1"
		case parts[0] == "0" && parts[1] == "":
			dir, file, version = root, "memory.max", "v2"
			if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
				dir = filepath.Join(root, "unified") // a hybrid layout
			}
		default:
			continue
		}
		for p := filepath.Clean("/" + parts[2]); ; p = filepath.Dir(p) {
			path := filepath.Join(dir, p, file)
			if b, ok := readLimit(path); ok && (best.Bytes == 0 || b < best.Bytes) {
				best = Limit{b, "cgroup " + version + " " + path}
			}
			if p == "/" {
				break
			}
		}
	}
	return best, best.Bytes > 0
}

// readLimit reads a cgroup limit file: a byte count, or "max". Counts
// beyond 2^62 mean no limit (v1 writes the largest page multiple).
func readLimit(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	b, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil || b <= 0 || b >= 1<<62 {
		return 0, false
	}
	return b, true
}

// physical reads MemTotal from /proc/meminfo.
func physical(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil && kb > 0
		}
	}
	return 0, false
}
