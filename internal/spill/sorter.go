package spill

import (
	"container/heap"
	"iter"
	"slices"

	"github.com/ember-go/ember/internal/codec"
)

// Sorter sorts elements of T that may not fit in memory: it keeps what
// fits in its task's share of the budget, sorts and writes it to a run
// file when the share is used up, and merges the runs with what is left
// in memory when read. It is not safe for concurrent use.
type Sorter[T any] struct {
	mem  Reservation
	cmp  func(a, b T) int
	c    *codec.Codec[T]
	size *Sizer[T]
	buf  []T
	// fast, if set, sorts in place of slices.SortFunc; see SetSort.
	fast func(xs, scratch []T) []T
	// content is the bytes buf's elements refer to beyond themselves.
	content int64
	runs    []*run
}

// NewSorter returns an empty Sorter that orders by cmp and spills through
// mem. T must have an Arrow codec.
func NewSorter[T any](mem Memory, cmp func(a, b T) int) (*Sorter[T], error) {
	c, err := codec.For[T]()
	if err != nil {
		return nil, err
	}
	return &Sorter[T]{mem: NewReservation(mem), cmp: cmp, c: c, size: NewSizer[T]()}, nil
}

// SetSort makes the sorter sort what it holds with sort, which must
// order as the sorter's cmp does, may use scratch (as long as xs) as
// working space, and returns the sorted slice: xs or scratch. The sorter
// uses it when it has not spilled and its share of the budget holds the
// scratch too, and sorts by comparison otherwise. A radix sort on
// integer keys is one.
func (s *Sorter[T]) SetSort(sort func(xs, scratch []T) []T) { s.fast = sort }

// Grow makes room for n more elements at once, if the sorter's share of
// the budget holds them, so that adding them does not copy what is
// held as the buffer grows. It is a hint: nothing happens otherwise.
func (s *Sorter[T]) Grow(n int) {
	room := cap(s.buf) - len(s.buf)
	if n <= room {
		return
	}
	if s.mem.Try(int64(n-room) * s.size.fixed) {
		s.buf = slices.Grow(s.buf, n)
	}
}

// Add adds xs, spilling what the sorter holds if their memory is refused.
func (s *Sorter[T]) Add(xs []T) error {
	if s.size.refs {
		for _, x := range xs {
			s.content += s.size.Of(x) - s.size.fixed
		}
	}
	s.buf = append(s.buf, xs...)
	// The slice at its capacity, and what its elements refer to.
	held := int64(cap(s.buf))*s.size.fixed + s.content
	if s.mem.grow(held-s.mem.used) || len(s.buf) <= len(xs) {
		return nil
	}
	return s.spill()
}

// Spills is how many runs the sorter wrote.
func (s *Sorter[T]) Spills() int { return len(s.runs) }

// spill sorts what is in memory and writes it as a run.
func (s *Sorter[T]) spill() error {
	dir, err := s.mem.mem.SpillDir()
	if err != nil {
		return err
	}
	slices.SortFunc(s.buf, s.cmp)
	r, disk, err := writeRun(s.c, dir, s.buf)
	if err != nil {
		return err
	}
	s.mem.mem.AddSpill(s.mem.used, disk)
	s.runs = append(s.runs, r)
	s.buf, s.content = nil, 0
	s.mem.Release()
	return nil
}

// All yields the elements in order: from memory alone if nothing was
// spilled, else merged from the runs and memory. Elements equal by cmp
// come in no particular order.
func (s *Sorter[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		s.sort()
		if len(s.runs) == 0 {
			for _, x := range s.buf {
				if !yield(x, nil) {
					return
				}
			}
			return
		}
		if err := s.narrow(); err != nil {
			var zero T
			yield(zero, err)
			return
		}
		sources := make([]iter.Seq2[[]T, error], 0, len(s.runs)+1)
		for _, r := range s.runs {
			sources = append(sources, readRun(r, s.c))
		}
		sources = append(sources, inMemory(s.buf))
		for x, err := range merge(sources, s.cmp) {
			if !yield(x, err) || err != nil {
				return
			}
		}
	}
}

// sort sorts what is in memory before it is read: with the fast sort if
// there is one, nothing was spilled and the budget holds its scratch
// space, else by comparison. A sorter that spilled sorts by comparison
// alone: its share is full, and the copy the fast sort leaves behind for
// the collector would take the process past its budget.
func (s *Sorter[T]) sort() {
	if s.fast != nil && len(s.runs) == 0 && len(s.buf) >= minFastSort {
		scratch := int64(len(s.buf)) * s.size.fixed
		if s.mem.Try(scratch) {
			s.buf = s.fast(s.buf, make([]T, len(s.buf)))
			s.mem.Shrink(scratch) // the slice not returned is garbage
			return
		}
	}
	slices.SortFunc(s.buf, s.cmp)
}

// minFastSort is the fewest elements sorted by the fast sort: below it,
// its fixed costs exceed a comparison sort's.
const minFastSort = 1 << 10

// narrow merges runs into longer ones until at most maxMergeWidth are
// left, so that a merge keeps few files open and little in memory.
func (s *Sorter[T]) narrow() (err error) {
	s.runs, err = narrowRuns(s.mem.mem, s.c, s.runs, func(sources []iter.Seq2[[]T, error]) iter.Seq2[T, error] {
		return merge(sources, s.cmp)
	})
	return err
}

// Close drops what the sorter holds: its memory and its run files.
func (s *Sorter[T]) Close() {
	for _, r := range s.runs {
		r.remove()
	}
	s.runs, s.buf = nil, nil
	s.mem.Release()
}

// inMemory is a sorted source already in memory.
func inMemory[T any](xs []T) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		if len(xs) > 0 {
			yield(xs, nil)
		}
	}
}

// merge yields the elements of sorted sources in order; of equal
// elements, those of earlier sources come first.
func merge[T any](sources []iter.Seq2[[]T, error], cmp func(a, b T) int) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		h := &cursors[T]{cmp: cmp}
		defer h.stop()
		for i, src := range sources {
			c := &cursor[T]{src: i}
			c.next, c.close = iter.Pull2(src)
			h.all = append(h.all, c)
			if err := c.advance(); err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if c.ok() {
				h.live = append(h.live, c)
			}
		}
		heap.Init(h)
		for h.Len() > 0 {
			c := h.live[0]
			if !yield(c.head(), nil) {
				return
			}
			c.i++
			if err := c.advance(); err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if c.ok() {
				heap.Fix(h, 0)
			} else {
				heap.Pop(h)
			}
		}
	}
}

// cursor reads a sorted source a batch at a time.
type cursor[T any] struct {
	src   int // its index among the sources, which breaks ties
	next  func() ([]T, error, bool)
	close func()
	buf   []T
	i     int
	done  bool
}

// advance loads the next batch once the current one is used up.
func (c *cursor[T]) advance() error {
	for !c.done && c.i >= len(c.buf) {
		buf, err, ok := c.next()
		if !ok {
			c.done, c.buf = true, nil
			return nil
		}
		if err != nil {
			c.done = true
			return err
		}
		c.buf, c.i = buf, 0
	}
	return nil
}

func (c *cursor[T]) ok() bool { return c.i < len(c.buf) }
func (c *cursor[T]) head() T  { return c.buf[c.i] }

// cursors is a heap of cursors by their heads.
type cursors[T any] struct {
	cmp  func(a, b T) int
	live []*cursor[T]
	all  []*cursor[T]
}

func (h *cursors[T]) Len() int { return len(h.live) }
func (h *cursors[T]) Less(i, j int) bool {
	if c := h.cmp(h.live[i].head(), h.live[j].head()); c != 0 {
		return c < 0
	}
	return h.live[i].src < h.live[j].src
}
func (h *cursors[T]) Swap(i, j int) { h.live[i], h.live[j] = h.live[j], h.live[i] }
func (h *cursors[T]) Push(x any)    { h.live = append(h.live, x.(*cursor[T])) }
func (h *cursors[T]) Pop() any {
	c := h.live[len(h.live)-1]
	h.live = h.live[:len(h.live)-1]
	return c
}

// stop ends the sources' readers, closing their files.
func (h *cursors[T]) stop() {
	for _, c := range h.all {
		c.close()
	}
}
