// Package goroutine identifies the running goroutine, which Go keeps to
// itself: the engine uses the id to tell which task attempt an
// accumulator's addition belongs to, as a task's code calls Add without
// a task context.
package goroutine

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"

	"github.com/petermattis/goid"
)

// ID returns the id of the calling goroutine, unique for the life of the
// process, or 0 if the fast way to read it cannot be trusted on this Go
// release (Reliable).
func ID() int64 {
	if !Reliable() {
		return 0
	}
	return goid.Get()
}

// Reliable reports whether the fast id (which reads the runtime's
// goroutine structure, whose layout Go may change) agrees with the id the
// runtime prints in stack traces, on this goroutine and a new one. It is
// checked once.
var Reliable = sync.OnceValue(func() bool {
	if goid.Get() != fromStack() {
		return false
	}
	same := make(chan bool)
	go func() { same <- goid.Get() == fromStack() }()
	return <-same
})

// fromStack reads the calling goroutine's id from the head of its stack
// trace, "goroutine 42 [running]:", the slow way.
func fromStack() int64 {
	var buf [64]byte
	head := buf[:runtime.Stack(buf[:], false)]
	head, ok := bytes.CutPrefix(head, []byte("goroutine "))
	if i := bytes.IndexByte(head, ' '); ok && i > 0 {
		if id, err := strconv.ParseInt(string(head[:i]), 10, 64); err == nil {
			return id
		}
	}
	return -1
}
