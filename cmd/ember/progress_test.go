package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ember-go/ember/rdd"
)

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	p := &progress{out: &out, width: 60, stages: map[int]*stageProgress{}}
	p.event(rdd.StageEvent{Kind: rdd.StageStarted, StageID: 3, Tasks: 40})
	for range 16 {
		p.event(rdd.StageEvent{Kind: rdd.TaskStarted, StageID: 3})
	}
	for range 12 {
		p.event(rdd.StageEvent{Kind: rdd.TaskEnded, StageID: 3})
	}
	p.draw()
	if out.Len() != 0 {
		t.Fatalf("a stage younger than %v was drawn: %q", showAfter, out.String())
	}
	p.stages[3].started = time.Now().Add(-time.Second)
	p.draw()
	line := out.String()
	if !strings.HasPrefix(line, "\r[Stage 3:") || !strings.HasSuffix(line, "(12 + 4) / 40]") || !strings.Contains(line, "=>") {
		t.Fatalf("progress line %q", line)
	}
	out.Reset()
	p.event(rdd.StageEvent{Kind: rdd.StageEnded, StageID: 3})
	if got := out.String(); strings.TrimSpace(strings.Trim(got, "\r")) != "" || !strings.HasPrefix(got, "\r") {
		t.Fatalf("the line was not cleared when the stage ended: %q", got)
	}
}
