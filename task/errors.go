package task

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// PanicError is a panic caught while running a task.
type PanicError struct {
	Value any    // what was passed to panic
	Where string // the user code that panicked, e.g. an RDD and its creation site
	Stack string // the goroutine's stack where the panic happened
}

// NewPanicError wraps a recovered value with the current stack. It must be
// called from the deferred function that recovered, so that the stack still
// shows where the panic began. A value that already is a *PanicError is
// returned as it is, so that the innermost recovery keeps its stack.
func NewPanicError(v any) *PanicError {
	if pe, ok := v.(*PanicError); ok {
		return pe
	}
	return &PanicError{Value: v, Stack: string(debug.Stack())}
}

func (e *PanicError) Error() string {
	if e.Where != "" {
		return fmt.Sprintf("panic in %s: %v\n\n%s", e.Where, e.Value, e.Stack)
	}
	return fmt.Sprintf("panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// FetchFailedError says that a reduce task could not read a map output. The
// scheduler forgets that output and recomputes it from lineage.
type FetchFailedError struct {
	ShuffleID int
	MapID     int
	Epoch     uint64 // of the map output's registration; zero if unknown
	Err       error
}

func (e *FetchFailedError) Error() string {
	return fmt.Sprintf("fetch of shuffle %d map %d failed: %v", e.ShuffleID, e.MapID, e.Err)
}

func (e *FetchFailedError) Unwrap() error { return e.Err }

// permanentError marks a failure that retrying cannot mend.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that the same task would meet again (a
// malformed input, a mismatch of partition sizes): the scheduler does not
// retry it and fails the job at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
