// Package program describes the running binary: where it is and the
// header of an upload of it (its SHA-256, size and platform), so that a
// driver can ship itself to executors that run another program.
package program

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/ember-go/ember/internal/rpc"
)

// BuildID identifies the running binary by the SHA-256 of its file (the
// first 16 hex digits), so that a driver can tell executors that run
// another build; "" if the file cannot be read.
func BuildID() string {
	p, err := This()
	if err != nil {
		return ""
	}
	return p.Header.Sha256[:16]
}

// Program is the running binary: where it is, and its header for an
// upload (its SHA-256, size and platform).
type Program struct {
	Path   string
	Header *rpc.BinaryHeader
}

// This describes the running binary; its file is read once.
var This = sync.OnceValues(func() (Program, error) {
	path, err := os.Executable()
	if err != nil {
		return Program{}, fmt.Errorf("find this program: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return Program{}, fmt.Errorf("read this program: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Program{}, fmt.Errorf("read this program: %w", err)
	}
	return Program{path, &rpc.BinaryHeader{Sha256: hex.EncodeToString(h.Sum(nil)), Size: n, Goos: runtime.GOOS, Goarch: runtime.GOARCH}}, nil
})

// ExitedByItself reports whether a child process that ended did so by its
// own doing: a non-zero exit status, as a crash or os.Exit gives, rather
// than a signal from outside (a kill, the kernel's OOM killer).
func ExitedByItself(ps *os.ProcessState) bool {
	return ps != nil && ps.Exited() && ps.ExitCode() != 0
}
