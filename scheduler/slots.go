package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ember-go/ember/task"
)

// slotPool hands the task slots of the live executors to the tasks that
// wait for one. A task that prefers an executor, because it holds the
// task's cached input, waits for a slot there first, up to the locality
// wait: reading the input where it is beats starting at once elsewhere.
// Then it waits, as every other task, for a slot on any executor, first
// come first served, on the one with the most free slots. A free slot goes
// first to the tasks that wait for its executor.
//
// The Cluster adds and removes executors here as it adds and loses them,
// with its own lock held: Cluster.mu comes before slotPool.mu.
type slotPool struct {
	localityWait time.Duration   // no wait for a preferred executor unless positive
	executorWait time.Duration   // bounds a wait while there is no executor at all
	closing      <-chan struct{} // closed as the cluster closes

	mu    sync.Mutex
	execs map[string]*remoteExecutor // the live executors; mu guards their free slots
	// local holds, by executor, the tasks waiting for a slot on that one.
	local  map[string][]chan *remoteExecutor
	queue  []chan *remoteExecutor // the tasks waiting for a slot on any executor
	closed bool
}

// A waiter is a task waiting for a slot. It is handed one at most, on got:
// the executor whose slot it is. With near set, it waits in that executor's
// queue first.
type waiter struct {
	got  chan *remoteExecutor
	near *remoteExecutor
}

func newSlotPool(localityWait, executorWait time.Duration, closing <-chan struct{}) *slotPool {
	return &slotPool{localityWait: localityWait, executorWait: executorWait, closing: closing,
		execs: make(map[string]*remoteExecutor), local: make(map[string][]chan *remoteExecutor)}
}

// acquire takes a slot for a task that prefers the named executor ("" for
// none): on that executor if it has one free or frees one within the
// locality wait, and otherwise on the executor with the most free slots,
// waiting for one to free. While the cluster has no executor at all, it
// waits at most executorWait.
func (p *slotPool) acquire(ctx context.Context, preferred string) (*remoteExecutor, error) {
	e, w, err := p.join(preferred)
	if e != nil || err != nil {
		return e, err // a slot free at once, or the cluster closed
	}
	if w.near != nil {
		if e, err := p.waitNear(ctx, w); e != nil || err != nil {
			return e, err
		}
	}
	return p.waitAny(ctx, w)
}

// join takes a free slot for the task if there is one it may take at once,
// and otherwise queues it: for the preferred executor, if that one is live
// and there is a locality wait, else for any.
func (p *slotPool) join(preferred string) (*remoteExecutor, waiter, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, waiter{}, errors.New("scheduler: cluster closed")
	}
	if near := p.execs[preferred]; near != nil && p.localityWait > 0 {
		if near.free > 0 {
			near.free--
			return near, waiter{}, nil
		}
		w := waiter{got: make(chan *remoteExecutor, 1), near: near}
		p.local[preferred] = append(p.local[preferred], w.got)
		return nil, w, nil
	}
	if e := p.pickLocked(); e != nil && len(p.queue) == 0 {
		e.free--
		return e, waiter{}, nil
	}
	w := waiter{got: make(chan *remoteExecutor, 1)}
	p.queue = append(p.queue, w.got)
	p.dispatchLocked()
	return nil, w, nil
}

// waitNear waits for w to be handed a slot on its preferred executor, up to
// the locality wait. It returns no executor and no error when that wait
// ends without one, the time up or the executor lost: w then waits in the
// queue for any executor, where a slot handed to it meanwhile stays.
func (p *slotPool) waitNear(ctx context.Context, w waiter) (*remoteExecutor, error) {
	timer := time.NewTimer(p.localityWait)
	defer timer.Stop()
	select {
	case e := <-w.got:
		return e, nil
	case <-timer.C:
	case <-w.near.lost:
	case <-ctx.Done():
		p.abandon(w)
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaveLocalLocked(w) {
		p.queue = append(p.queue, w.got)
	}
	// Otherwise w was handed a slot as the wait ended, or its executor was
	// lost and moved w to the queue for any, first.
	p.dispatchLocked()
	return nil, nil
}

// waitAny waits for w to be handed a slot on any executor. Only while the
// cluster has no executor at all is the wait bounded, by executorWait.
func (p *slotPool) waitAny(ctx context.Context, w waiter) (*remoteExecutor, error) {
	timer := time.NewTimer(p.executorWait)
	defer timer.Stop()
	for {
		select {
		case e := <-w.got:
			return e, nil
		case <-timer.C:
			if !p.empty() {
				timer.Reset(p.executorWait)
				continue
			}
			// Retrying cannot help: the job fails now rather than after
			// every attempt's wait.
			err := task.Permanent(fmt.Errorf("scheduler: %w for %v", ErrNoExecutors, p.executorWait))
			p.abandon(w)
			return nil, err
		case <-ctx.Done():
			p.abandon(w)
			return nil, ctx.Err()
		case <-p.closing:
			p.abandon(w)
			return nil, errors.New("scheduler: cluster closed")
		}
	}
}

// abandon takes w out of the queues; a slot handed to it meanwhile is
// given back.
func (p *slotPool) abandon(w waiter) {
	p.mu.Lock()
	queued := p.leaveLocalLocked(w) || p.leaveQueueLocked(w)
	p.mu.Unlock()
	if !queued {
		p.release(<-w.got)
	}
}

// release gives back a slot of e.
func (p *slotPool) release(e *remoteExecutor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.execs[e.name] != e {
		return // lost: its slots went with it
	}
	e.free++
	p.dispatchLocked()
}

// add makes e's free slots available, first to the tasks that wait for an
// executor of its name.
func (p *slotPool) add(e *remoteExecutor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.execs[e.name] = e
	p.dispatchLocked()
}

// remove takes out a lost executor: the tasks that waited for it wait for
// any executor now, ahead of the others.
func (p *slotPool) remove(e *remoteExecutor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.execs[e.name] != e {
		return
	}
	delete(p.execs, e.name)
	p.queue = append(p.local[e.name], p.queue...)
	delete(p.local, e.name)
	p.dispatchLocked()
}

// close refuses new tasks and forgets the executors, whose slots, given
// back from now on, are dropped.
func (p *slotPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.execs = make(map[string]*remoteExecutor)
}

// busy returns how many of e's slots are taken.
func (p *slotPool) busy(e *remoteExecutor) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return e.cores - e.free
}

// empty reports whether the pool has no executor.
func (p *slotPool) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.execs) == 0
}

// dispatchLocked hands free slots to waiting tasks: first to those that
// wait for their executor, then to the others in order. p.mu is held.
func (p *slotPool) dispatchLocked() {
	for name, ws := range p.local {
		e := p.execs[name]
		for e != nil && e.free > 0 && len(ws) > 0 {
			e.free--
			ws[0] <- e
			ws = ws[1:]
		}
		if len(ws) == 0 {
			delete(p.local, name)
		} else {
			p.local[name] = ws
		}
	}
	for len(p.queue) > 0 {
		e := p.pickLocked()
		if e == nil {
			return
		}
		e.free--
		w := p.queue[0]
		p.queue = p.queue[1:]
		w <- e
	}
}

// pickLocked returns the live executor with the most free slots, or nil.
func (p *slotPool) pickLocked() *remoteExecutor {
	var best *remoteExecutor
	for _, e := range p.execs {
		if e.free > 0 && (best == nil || e.free > best.free || e.free == best.free && e.name < best.name) {
			best = e
		}
	}
	return best
}

// leaveLocalLocked takes w out of its preferred executor's queue and
// reports whether it was there. p.mu is held.
func (p *slotPool) leaveLocalLocked(w waiter) bool {
	if w.near == nil {
		return false
	}
	ws, ok := without(p.local[w.near.name], w.got)
	if ok {
		p.local[w.near.name] = ws
	}
	return ok
}

// leaveQueueLocked takes w out of the queue for any executor and reports
// whether it was there. p.mu is held.
func (p *slotPool) leaveQueueLocked(w waiter) bool {
	ws, ok := without(p.queue, w.got)
	if ok {
		p.queue = ws
	}
	return ok
}

// without returns ws without w, and whether w was in it.
func without(ws []chan *remoteExecutor, w chan *remoteExecutor) ([]chan *remoteExecutor, bool) {
	i := slices.Index(ws, w)
	if i < 0 {
		return ws, false
	}
	return slices.Delete(ws, i, i+1), true
}
