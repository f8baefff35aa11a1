package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ember-go/ember/rdd"
)

// progress draws a console progress line per running stage, in the manner
// of Spark's: [Stage 3:=======>        (12 + 4) / 40]. The line is redrawn
// in place and cleared when no stage runs; a stage shows only once it has
// run for a moment, so quick jobs leave no trace.
type progress struct {
	out   io.Writer
	width int

	mu     sync.Mutex
	stages map[int]*stageProgress
	drawn  bool // a line is on the screen
	stop   chan struct{}
	done   chan struct{}
}

type stageProgress struct {
	id                   int
	started              time.Time
	total, done, running int
}

// showAfter is how long a stage runs before it shows.
const showAfter = 500 * time.Millisecond

// startProgress draws the progress of s's stages on out until stop is
// called.
func startProgress(s *rdd.Session, out io.Writer) (stop func()) {
	p := &progress{out: out, width: 80, stages: map[int]*stageProgress{}, stop: make(chan struct{}), done: make(chan struct{})}
	s.OnStageEvent(p.event)
	go p.loop()
	return func() {
		close(p.stop)
		<-p.done
	}
}

func (p *progress) event(ev rdd.StageEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stages[ev.StageID]
	switch ev.Kind {
	case rdd.StageStarted:
		p.stages[ev.StageID] = &stageProgress{id: ev.StageID, started: time.Now(), total: ev.Tasks}
	case rdd.TaskStarted:
		if st != nil {
			st.running++
		}
	case rdd.TaskEnded:
		if st != nil {
			st.running = max(st.running-1, 0)
			if ev.Err == nil {
				st.done++
			}
		}
	case rdd.StageEnded:
		delete(p.stages, ev.StageID)
		if len(p.stages) == 0 {
			p.clear() // before the job's caller prints its result
		}
	}
}

func (p *progress) loop() {
	defer close(p.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.mu.Lock()
			p.clear()
			p.mu.Unlock()
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw writes the line of the stages running for long enough.
func (p *progress) draw() {
	var shown []*stageProgress
	for _, st := range p.stages {
		if time.Since(st.started) >= showAfter {
			shown = append(shown, st)
		}
	}
	if len(shown) == 0 {
		p.clear()
		return
	}
	slices.SortFunc(shown, func(a, b *stageProgress) int { return a.id - b.id })
	each := p.width / len(shown)
	var line strings.Builder
	for _, st := range shown {
		line.WriteString(bar(st, each))
	}
	fmt.Fprintf(p.out, "\r%s", line.String())
	p.drawn = true
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprintf(p.out, "\r%s\r", strings.Repeat(" ", p.width))
		p.drawn = false
	}
}

// bar is one stage's part of the line, width characters at most.
func bar(st *stageProgress, width int) string {
	head := fmt.Sprintf("[Stage %d:", st.id)
	tail := fmt.Sprintf("(%d + %d) / %d]", st.done, st.running, st.total)
	room := width - len(head) - len(tail)
	if room <= 0 {
		return head + tail
	}
	filled := room * st.done / max(st.total, 1)
	b := strings.Repeat("=", filled)
	if filled < room {
		b += ">" + strings.Repeat(" ", room-filled-1)
	}
	return head + b + tail
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
