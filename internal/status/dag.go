package status

import (
	"fmt"
	"html"
	"html/template"
	"slices"
	"strings"
)

// Sizes of the stage graph's drawing, in pixels.
const (
	rddWidth     = 200
	rddHeight    = 36
	rddGap       = 14 // between RDDs of a stage, both ways
	stagePad     = 12
	stageTitle   = 24
	stageGap     = 28 // between stages of a column
	columnGap    = 64
	graphMargin  = 10
	maxNameChars = 27 // of 11px monospace, in an RDD's box
)

// stageGraph draws stages as SVG: each stage a box holding its RDDs, with
// an arrow from each RDD to the RDDs of the same stage that read it, and
// from the last RDD of a stage to the RDDs of later stages that read the
// shuffle it wrote. Stages run left to right.
func stageGraph(stages []Stage) template.HTML {
	if len(stages) == 0 {
		return ""
	}
	byID := make(map[int]*Stage, len(stages))
	writer := map[int]*Stage{} // shuffle id → the stage that wrote it
	for i := range stages {
		st := &stages[i]
		byID[st.ID] = st
		if st.ShuffleID != 0 {
			writer[st.ShuffleID] = st
		}
	}

	// Columns: a stage goes right of every parent it has here.
	level := map[int]int{}
	var levelOf func(st *Stage, depth int) int
	levelOf = func(st *Stage, depth int) int {
		if l, ok := level[st.ID]; ok {
			return l
		}
		l := 0
		if depth < len(stages) { // a cycle cannot happen; bound it anyway
			for _, p := range st.ParentStages {
				if ps := byID[p]; ps != nil {
					l = max(l, levelOf(ps, depth+1)+1)
				}
			}
		}
		level[st.ID] = l
		return l
	}
	var columns [][]*Stage
	for i := range stages {
		l := levelOf(&stages[i], 0)
		for len(columns) <= l {
			columns = append(columns, nil)
		}
		columns[l] = append(columns[l], &stages[i])
	}

	// Lay out each stage's RDDs in rows, parents above children.
	type box struct{ x, y int }
	layouts := map[int]*stageLayout{}
	for i := range stages {
		layouts[stages[i].ID] = layoutStage(&stages[i])
	}
	x := graphMargin
	height := 0
	pos := map[int]box{} // stage id → top left
	for _, col := range columns {
		y, width := graphMargin, 0
		for _, st := range col {
			l := layouts[st.ID]
			pos[st.ID] = box{x, y}
			y += l.height + stageGap
			width = max(width, l.width)
		}
		height = max(height, y-stageGap+graphMargin)
		x += width + columnGap
	}
	width := x - columnGap + graphMargin

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="stage graph">`, width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>`)
	// rddAt returns where an RDD of a stage is drawn, in the whole drawing.
	rddAt := func(st *Stage, rdd int) (x, y int, ok bool) {
		p, l := pos[st.ID], layouts[st.ID]
		r, ok := l.at[rdd]
		return p.x + r.x, p.y + r.y, ok
	}
	// Arrows between stages: the long way under the stage boxes, so that
	// they do not cross the boxes between; the stubs from an RDD to its
	// stage's edge, and the arrowhead, over them.
	var under, over strings.Builder
	for i := range stages {
		st := &stages[i]
		for _, r := range st.RDDs {
			for _, sh := range r.Shuffles {
				from := writer[sh]
				if from == nil || len(from.RDDs) == 0 {
					continue
				}
				x1, y1, ok1 := rddAt(from, from.RDDs[len(from.RDDs)-1].ID)
				x2, y2, ok2 := rddAt(st, r.ID)
				if !ok1 || !ok2 {
					continue
				}
				x1, y1 = x1+rddWidth, y1+rddHeight/2
				out := pos[from.ID].x + layouts[from.ID].width // the writer's right edge
				fmt.Fprintf(&over, `<line class="stub" x1="%d" y1="%d" x2="%d" y2="%d"/>`, x1, y1, out, y1)
				if layouts[st.ID].first[r.ID] {
					// Into the left side of the first RDD of a row.
					y2 += rddHeight / 2
					in := pos[st.ID].x // the reader's left edge
					mid := (out + in) / 2
					fmt.Fprintf(&under, `<path class="shuffle" d="M%d,%d C%d,%d %d,%d %d,%d"><title>shuffle %d</title></path>`,
						out, y1, mid, y1, mid, y2, in, y2, sh)
					fmt.Fprintf(&over, `<line class="stub" x1="%d" y1="%d" x2="%d" y2="%d" marker-end="url(#arrow)"/>`, in, y2, x2, y2)
					continue
				}
				// Into the top of the others, not across their neighbours.
				x2 += rddWidth / 2
				fmt.Fprintf(&over, `<path class="shuffle" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"><title>shuffle %d</title></path>`,
					out, y1, out+40, y1, x2, y2-40, x2, y2, sh)
			}
		}
	}
	b.WriteString(under.String())
	for i := range stages {
		st := &stages[i]
		p, l := pos[st.ID], layouts[st.ID]
		status := st.Status
		fmt.Fprintf(&b, `<a href="/stages/%d"><g class="stage %s" data-stage="%d" data-status="%s">`, st.ID, status, st.ID, status)
		fmt.Fprintf(&b, `<rect class="cluster" x="%d" y="%d" width="%d" height="%d" rx="6"/>`, p.x, p.y, l.width, l.height)
		title := fmt.Sprintf("Stage %d · %s", st.ID, status)
		if st.Kind == "sample" {
			title = fmt.Sprintf("Stage %d · sample · %s", st.ID, status)
		}
		fmt.Fprintf(&b, `<text class="title" x="%d" y="%d">%s</text>`, p.x+stagePad, p.y+16, title)
		for _, r := range st.RDDs {
			rx, ry, _ := rddAt(st, r.ID)
			for _, parent := range r.Parents {
				px, py, ok := rddAt(st, parent)
				switch {
				case !ok:
				case ry-py > rddHeight+rddGap:
					// It skips a row: around the boxes in between, on
					// the left.
					fmt.Fprintf(&b, `<path class="narrow" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`,
						px, py+rddHeight/2, px-15, py+rddHeight/2, rx-15, ry+rddHeight/2, rx, ry+rddHeight/2)
				default:
					fmt.Fprintf(&b, `<line class="narrow" x1="%d" y1="%d" x2="%d" y2="%d" marker-end="url(#arrow)"/>`,
						px+rddWidth/2, py+rddHeight, rx+rddWidth/2, ry)
				}
			}
		}
		for _, r := range st.RDDs {
			rx, ry, _ := rddAt(st, r.ID)
			op, site, _ := strings.Cut(r.Name, " at ")
			class, title := "rdd", r.Name
			if r.Cached {
				class, title = "rdd cached", r.Name+" (cached)"
			}
			fmt.Fprintf(&b, `<g class="%s" data-rdd="%d"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="3"/>`,
				class, r.ID, html.EscapeString(title), rx, ry, rddWidth, rddHeight)
			if r.Cached {
				fmt.Fprintf(&b, `<circle class="cached-mark" cx="%d" cy="%d" r="4"/>`, rx+rddWidth-10, ry+10)
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, rx+8, ry+15, html.EscapeString(shorten(shortID(op), "")))
			if file, line, ok := strings.Cut(site, ":"); ok {
				site = shorten(file, ":"+line)
			} else {
				site = shorten(site, "")
			}
			fmt.Fprintf(&b, `<text class="site" x="%d" y="%d">%s</text></g>`, rx+8, ry+29, html.EscapeString(site))
		}
		b.WriteString(`</g></a>`)
	}
	b.WriteString(over.String())
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// stageLayout places a stage's RDDs inside its box.
type stageLayout struct {
	width, height int
	at            map[int]struct{ x, y int } // RDD id → top left, in the box
	first         map[int]bool               // the RDDs first in their row
}

// layoutStage puts each RDD one row below the lowest of its parents, and
// the RDDs of a row side by side. RDDs without parents in the stage (its
// sources, and the RDDs that read shuffles) get a row each, so that
// arrows from other stages reach them from the left.
func layoutStage(st *Stage) *stageLayout {
	row := map[int]int{}
	var rows [][]int
	sources := 0
	for _, r := range st.RDDs { // parents come first
		n := -1
		for _, p := range r.Parents {
			if pr, ok := row[p]; ok {
				n = max(n, pr+1)
			}
		}
		if n < 0 {
			n = sources
			sources++
		}
		row[r.ID] = n
		for len(rows) <= n {
			rows = append(rows, nil)
		}
		rows[n] = append(rows[n], r.ID)
	}
	l := &stageLayout{at: map[int]struct{ x, y int }{}, first: map[int]bool{}}
	widest := 1
	for _, ids := range rows {
		widest = max(widest, len(ids))
	}
	l.width = 2*stagePad + widest*rddWidth + (widest-1)*rddGap
	for i, ids := range rows {
		// Centre each row.
		rowWidth := len(ids)*rddWidth + (len(ids)-1)*rddGap
		x := (l.width - rowWidth) / 2
		l.first[ids[0]] = true
		for _, id := range ids {
			l.at[id] = struct{ x, y int }{x, stageTitle + stagePad/2 + i*(rddHeight+rddGap)}
			x += rddWidth + rddGap
		}
	}
	l.height = stageTitle + stagePad/2 + len(rows)*(rddHeight+rddGap) - rddGap + stagePad
	if len(rows) == 0 {
		l.height = stageTitle + stagePad
	}
	return l
}

// shortID keeps the last digits of a long RDD id in "Map [id]": a
// cluster session's ids start at a random base, and their ends tell the
// RDDs of a job apart. The box's tooltip has the whole name.
func shortID(op string) string {
	const keep = 5
	name, id, ok := strings.Cut(op, " [")
	if !ok || len(id) <= keep+2 {
		return op
	}
	return name + " […" + id[len(id)-keep-1:]
}

// shorten cuts s, then adds suffix, to what fits in an RDD's box: a file
// name loses its middle, not its line number.
func shorten(s, suffix string) string {
	r, keep := []rune(s), maxNameChars-len([]rune(suffix))
	if len(r) > keep {
		r = append(r[:max(keep-1, 0)], '…')
	}
	return string(r) + suffix
}

// jobStages returns the stages of job and those it read from that ran for
// earlier jobs, whose status it gives as "skipped": this job reused their
// output.
func (s *Store) jobStages(job Job) []Stage {
	var stages []Stage
	seen := map[int]bool{}
	queue := slices.Clone(job.Stages)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		st, ok := s.Stage(id)
		if !ok {
			continue
		}
		if !slices.Contains(job.Stages, id) {
			st.Status = "skipped"
		}
		stages = append(stages, st)
		queue = append(queue, st.ParentStages...)
	}
	slices.SortFunc(stages, func(a, b Stage) int { return a.ID - b.ID })
	return stages
}
