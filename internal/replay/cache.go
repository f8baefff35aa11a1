package replay

import (
	"strconv"
	"sync"

	"github.com/ember-go/ember/internal/rpc"
)

// Cache holds the jobs an executor rebuilt, of type J, so that a job's
// graph is rebuilt once per executor and not once per task. Tasks that
// need a graph of their own (to report what they add to accumulators)
// take one that no running task uses, and put it back.
type Cache[J any] struct {
	// Rebuild rebuilds the job a definition describes.
	Rebuild func(def *rpc.DefineJob) (J, error)
	// Limit bounds the jobs kept; the oldest go first.
	Limit int

	mu    sync.Mutex
	jobs  map[string]*entry[J]
	order []string // oldest first
}

// entry is one rebuilt job and its spare graphs.
type entry[J any] struct {
	once sync.Once
	job  J
	err  error

	mu     sync.Mutex
	spares []J // graphs that no task runs on now
}

// Get returns the job of def, of application app, rebuilding it on first
// use.
func (c *Cache[J]) Get(app string, def *rpc.DefineJob) (J, error) {
	e := c.entry(app, def)
	return e.job, e.err
}

// Take returns a graph of the job of def that no running task uses: the
// cached one, a spare, or a new one; release gives it back.
func (c *Cache[J]) Take(app string, def *rpc.DefineJob) (job J, release func(), err error) {
	e := c.entry(app, def)
	if e.err != nil {
		return e.job, nil, e.err
	}
	e.mu.Lock()
	if n := len(e.spares); n > 0 {
		job = e.spares[n-1]
		e.spares = e.spares[:n-1]
		e.mu.Unlock()
	} else {
		e.mu.Unlock()
		if job, err = c.Rebuild(def); err != nil {
			return job, nil, err
		}
	}
	return job, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.spares = append(e.spares, job)
	}, nil
}

func (c *Cache[J]) entry(app string, def *rpc.DefineJob) *entry[J] {
	key := app + "/" + strconv.FormatUint(def.JobKey, 10)
	c.mu.Lock()
	e, ok := c.jobs[key]
	if !ok {
		if c.jobs == nil {
			c.jobs = make(map[string]*entry[J])
		}
		e = &entry[J]{}
		c.jobs[key] = e
		c.order = append(c.order, key)
		if len(c.order) > max(c.Limit, 1) {
			delete(c.jobs, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	e.once.Do(func() {
		if e.job, e.err = c.Rebuild(def); e.err == nil {
			e.spares = []J{e.job}
		}
	})
	return e
}
