package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// acquire takes a slot on the preferred executor if it has one free or
// frees one within LocalityWait, and otherwise on the executor with the
// most free slots, waiting for one to free. While the cluster has no
// executor at all, it waits at most ExecutorWait.
func (c *Cluster) acquire(ctx context.Context, preferred string) (*remoteExecutor, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("scheduler: cluster closed")
	}
	var w chan *remoteExecutor
	if e := c.execs[preferred]; e != nil && c.cfg.LocalityWait > 0 {
		if e.free > 0 {
			e.free--
			c.mu.Unlock()
			return e, nil
		}
		w = make(chan *remoteExecutor, 1)
		c.local[preferred] = append(c.local[preferred], w)
		c.mu.Unlock()
		timer := time.NewTimer(c.cfg.LocalityWait)
		select {
		case e := <-w:
			timer.Stop()
			return e, nil
		case <-timer.C:
		case <-e.lost: // wait for any executor now
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			if !c.abandonLocal(preferred, w) {
				c.abandon(w) // handed a slot, or moved to the others' queue
			}
			return nil, ctx.Err()
		}
		c.mu.Lock()
		if c.takeLocalLocked(preferred, w) {
			// Still waiting for that executor: join the others instead.
			c.waiters = append(c.waiters, w)
		}
		// Otherwise w was handed a slot as the wait ended, or the executor
		// was lost and w joined the others' queue: either way the loop
		// below receives it.
	}
	if w == nil {
		if e := c.pickLocked(); e != nil && len(c.waiters) == 0 {
			e.free--
			c.mu.Unlock()
			return e, nil
		}
		w = make(chan *remoteExecutor, 1)
		c.waiters = append(c.waiters, w)
	}
	c.dispatchLocked()
	c.mu.Unlock()
	timer := time.NewTimer(c.cfg.ExecutorWait)
	defer timer.Stop()
	for {
		select {
		case e := <-w:
			return e, nil
		case <-timer.C:
			c.mu.Lock()
			none := len(c.execs) == 0
			c.mu.Unlock()
			if !none {
				timer.Reset(c.cfg.ExecutorWait)
				continue
			}
			// Retrying cannot help: the job fails now rather than after
			// every attempt's wait.
			err := Permanent(fmt.Errorf("scheduler: %w for %v", ErrNoExecutors, c.cfg.ExecutorWait))
			c.abandon(w)
			return nil, err
		case <-ctx.Done():
			c.abandon(w)
			return nil, ctx.Err()
		case <-c.ctx.Done():
			c.abandon(w)
			return nil, errors.New("scheduler: cluster closed")
		}
	}
}

// abandonLocal takes w off the tasks waiting for the named executor and
// reports whether it was still there; if not, a slot was handed to it.
func (c *Cluster) abandonLocal(name string, w chan *remoteExecutor) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeLocalLocked(name, w)
}

// takeLocalLocked is abandonLocal with c.mu held.
func (c *Cluster) takeLocalLocked(name string, w chan *remoteExecutor) bool {
	ws := c.local[name]
	for i, x := range ws {
		if x == w {
			c.local[name] = append(ws[:i], ws[i+1:]...)
			return true
		}
	}
	return false
}

// abandon takes w off the waiters; a slot handed to it meanwhile is given
// back.
func (c *Cluster) abandon(w chan *remoteExecutor) {
	c.mu.Lock()
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	c.release(<-w)
}

func (c *Cluster) release(e *remoteExecutor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.execs[e.name] != e {
		return // lost: its slots went with it
	}
	e.free++
	c.dispatchLocked()
}

// dispatchLocked hands free slots to waiting tasks: first to those that
// wait for their executor, then to the others in order. c.mu is held.
func (c *Cluster) dispatchLocked() {
	for name, ws := range c.local {
		e := c.execs[name]
		for e != nil && e.free > 0 && len(ws) > 0 {
			e.free--
			ws[0] <- e
			ws = ws[1:]
		}
		if len(ws) == 0 {
			delete(c.local, name)
		} else {
			c.local[name] = ws
		}
	}
	for len(c.waiters) > 0 {
		e := c.pickLocked()
		if e == nil {
			return
		}
		e.free--
		w := c.waiters[0]
		c.waiters = c.waiters[1:]
		w <- e
	}
}

// pickLocked returns the live executor with the most free slots, or nil.
func (c *Cluster) pickLocked() *remoteExecutor {
	var best *remoteExecutor
	for _, e := range c.execs {
		if e.free > 0 && (best == nil || e.free > best.free || e.free == best.free && e.name < best.name) {
			best = e
		}
	}
	return best
}
