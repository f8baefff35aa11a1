package status

import (
	"fmt"
	"html"
	"html/template"
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

// graph is a stage graph laid out: where everything goes, in pixels, with
// no SVG yet.
type graph struct {
	width, height int
	stages        []stageBox // in the order of the stages given
	shuffles      []shuffleArrow
}

// stageBox is a stage's box, with its RDDs' boxes and the arrows between
// them.
type stageBox struct {
	stage         *Stage
	x, y          int // top left
	width, height int
	rdds          []rddBox    // in the order of stage.RDDs
	byID          map[int]int // RDD id → index in rdds
	narrow        []narrowArrow
}

// rddBox is an RDD's box, rddWidth by rddHeight.
type rddBox struct {
	rdd   *RDD
	x, y  int  // top left
	first bool // first in its row: arrows from other stages come in from the left
}

// point is a point of the drawing.
type point struct{ x, y int }

// narrowArrow goes from an RDD to one of the same stage that reads it.
type narrowArrow struct {
	from, to point
	// around says that it skips rows: it curves around the boxes between,
	// on their left, from the left side of one box to the left side of the
	// other. Else it goes straight from the bottom of one to the top of
	// the other.
	around bool
}

// shuffleArrow goes from the last RDD of a stage to an RDD of a later
// stage that reads the shuffle it wrote: a stub out to the writer's edge,
// then a curve into the reading RDD, from its left (through a stub from
// the reader's edge) or from above.
type shuffleArrow struct {
	shuffle  int
	from, to point // the right side of the writer's last RDD; the arrowhead
	out      int   // x of the writer's right edge
	fromLeft bool  // into the left side of the reading RDD, else its top
	in       int   // x of the reader's left edge, if fromLeft
}

// moveTo moves a box laid out at 0, 0, with its RDDs, to x, y.
func (b *stageBox) moveTo(x, y int) {
	b.x, b.y = x, y
	for i := range b.rdds {
		b.rdds[i].x += x
		b.rdds[i].y += y
	}
}

// rdd returns the box of RDD id of the stage.
func (b *stageBox) rdd(id int) (*rddBox, bool) {
	i, ok := b.byID[id]
	if !ok {
		return nil, false
	}
	return &b.rdds[i], true
}

// stageGraph draws stages as SVG: each stage a box holding its RDDs, with
// an arrow from each RDD to the RDDs of the same stage that read it, and
// from the last RDD of a stage to the RDDs of later stages that read the
// shuffle it wrote. Stages run left to right.
func stageGraph(stages []Stage) template.HTML {
	if len(stages) == 0 {
		return ""
	}
	return renderGraph(layoutGraph(stages))
}

// layoutGraph lays out the stages: in columns, each right of the columns
// of its parent stages.
func layoutGraph(stages []Stage) graph {
	boxes := make([]stageBox, len(stages))
	for i := range stages {
		boxes[i] = layoutStage(&stages[i])
	}
	var g graph
	g.width, g.height = placeColumns(boxes, stageColumns(stages))
	for i := range boxes {
		boxes[i].narrow = narrowArrows(&boxes[i])
	}
	g.stages, g.shuffles = boxes, shuffleArrows(boxes)
	return g
}

// layoutStage lays out a stage's box at 0, 0. It puts each RDD one row
// below the lowest of its parents, and the RDDs of a row side by side.
// RDDs without parents in the stage (its sources, and the RDDs that read
// shuffles) get a row each, so that arrows from other stages reach them
// from the left.
func layoutStage(st *Stage) stageBox {
	rows := stageRows(st)
	widest := 1
	for _, row := range rows {
		widest = max(widest, len(row))
	}
	b := stageBox{stage: st, rdds: make([]rddBox, len(st.RDDs)), byID: make(map[int]int, len(st.RDDs))}
	b.width = 2*stagePad + widest*rddWidth + (widest-1)*rddGap
	b.height = stageTitle + stagePad/2 + len(rows)*(rddHeight+rddGap) - rddGap + stagePad
	if len(rows) == 0 {
		b.height = stageTitle + stagePad
	}
	for i, r := range st.RDDs {
		b.rdds[i].rdd = &st.RDDs[i]
		b.byID[r.ID] = i
	}
	for n, row := range rows {
		// Centre each row.
		rowWidth := len(row)*rddWidth + (len(row)-1)*rddGap
		x := (b.width - rowWidth) / 2
		for k, i := range row {
			b.rdds[i].x, b.rdds[i].y = x, stageTitle+stagePad/2+n*(rddHeight+rddGap)
			b.rdds[i].first = k == 0
			x += rddWidth + rddGap
		}
	}
	return b
}

// stageRows returns the rows of a stage's RDDs, as indices in st.RDDs.
func stageRows(st *Stage) [][]int {
	row := map[int]int{} // RDD id → row
	var rows [][]int
	sources := 0
	for i, r := range st.RDDs { // parents come first
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
		rows[n] = append(rows[n], i)
	}
	return rows
}

// stageColumns returns the columns of the stages, as indices in stages: a
// stage goes right of every parent it has here.
func stageColumns(stages []Stage) [][]int {
	byID := make(map[int]int, len(stages))
	for i := range stages {
		byID[stages[i].ID] = i
	}
	column := map[int]int{} // stage id → column
	var columnOf func(i, depth int) int
	columnOf = func(i, depth int) int {
		st := &stages[i]
		if c, ok := column[st.ID]; ok {
			return c
		}
		c := 0
		if depth < len(stages) { // a cycle cannot happen; bound it anyway
			for _, p := range st.ParentStages {
				if pi, ok := byID[p]; ok {
					c = max(c, columnOf(pi, depth+1)+1)
				}
			}
		}
		column[st.ID] = c
		return c
	}
	var columns [][]int
	for i := range stages {
		c := columnOf(i, 0)
		for len(columns) <= c {
			columns = append(columns, nil)
		}
		columns[c] = append(columns[c], i)
	}
	return columns
}

// placeColumns moves the boxes to their columns, top to bottom in each,
// and returns the size of the drawing.
func placeColumns(boxes []stageBox, columns [][]int) (width, height int) {
	x := graphMargin
	for _, col := range columns {
		y, colWidth := graphMargin, 0
		for _, i := range col {
			boxes[i].moveTo(x, y)
			y += boxes[i].height + stageGap
			colWidth = max(colWidth, boxes[i].width)
		}
		height = max(height, y-stageGap+graphMargin)
		x += colWidth + columnGap
	}
	return x - columnGap + graphMargin, height
}

// narrowArrows returns the arrows between the RDDs of a placed stage.
func narrowArrows(b *stageBox) []narrowArrow {
	var arrows []narrowArrow
	for _, r := range b.rdds {
		for _, id := range r.rdd.Parents {
			p, ok := b.rdd(id)
			if !ok {
				continue
			}
			if r.y-p.y > rddHeight+rddGap {
				arrows = append(arrows, narrowArrow{from: point{p.x, p.y + rddHeight/2}, to: point{r.x, r.y + rddHeight/2}, around: true})
			} else {
				arrows = append(arrows, narrowArrow{from: point{p.x + rddWidth/2, p.y + rddHeight}, to: point{r.x + rddWidth/2, r.y}})
			}
		}
	}
	return arrows
}

// shuffleArrows returns the arrows between placed stages: one for each
// shuffle an RDD reads, from the stage that wrote it if it is drawn.
func shuffleArrows(boxes []stageBox) []shuffleArrow {
	writer := map[int]*stageBox{} // shuffle id → the stage that wrote it
	for i := range boxes {
		if sh := boxes[i].stage.ShuffleID; sh != 0 {
			writer[sh] = &boxes[i]
		}
	}
	var arrows []shuffleArrow
	for i := range boxes {
		reader := &boxes[i]
		for k := range reader.rdds {
			for _, sh := range reader.rdds[k].rdd.Shuffles {
				if from := writer[sh]; from != nil && len(from.rdds) > 0 {
					arrows = append(arrows, shuffleArrowOf(sh, from, reader, &reader.rdds[k]))
				}
			}
		}
	}
	return arrows
}

// shuffleArrowOf returns the arrow of shuffle sh from the last RDD of
// stage from to RDD r of stage to: into the left side of an RDD first in
// its row, into the top of the others, not across their neighbours.
func shuffleArrowOf(sh int, from, to *stageBox, r *rddBox) shuffleArrow {
	last := from.rdds[len(from.rdds)-1]
	a := shuffleArrow{shuffle: sh, from: point{last.x + rddWidth, last.y + rddHeight/2}, out: from.x + from.width}
	if r.first {
		a.fromLeft, a.in = true, to.x
		a.to = point{r.x, r.y + rddHeight/2}
	} else {
		a.to = point{r.x + rddWidth/2, r.y}
	}
	return a
}

// renderGraph writes a laid out graph as SVG. The long part of an arrow
// between stages goes under the stage boxes, so that it does not cross the
// boxes between; the stubs from an RDD to its stage's edge, and the
// arrowhead, over them.
func renderGraph(g graph) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="stage graph">`, g.width, g.height, g.width, g.height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>`)
	for _, a := range g.shuffles {
		renderShuffleUnder(&b, a)
	}
	for i := range g.stages {
		renderStage(&b, &g.stages[i])
	}
	for _, a := range g.shuffles {
		renderShuffleOver(&b, a)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// renderShuffleUnder writes the part of a shuffle arrow that goes under
// the stage boxes: the curve of one that comes in from the left.
func renderShuffleUnder(b *strings.Builder, a shuffleArrow) {
	if !a.fromLeft {
		return
	}
	mid := (a.out + a.in) / 2
	fmt.Fprintf(b, `<path class="shuffle" d="M%d,%d C%d,%d %d,%d %d,%d"><title>shuffle %d</title></path>`,
		a.out, a.from.y, mid, a.from.y, mid, a.to.y, a.in, a.to.y, a.shuffle)
}

// renderShuffleOver writes the part of a shuffle arrow that goes over the
// stage boxes: its stubs, or its stub and its curve from above.
func renderShuffleOver(b *strings.Builder, a shuffleArrow) {
	fmt.Fprintf(b, `<line class="stub" x1="%d" y1="%d" x2="%d" y2="%d"/>`, a.from.x, a.from.y, a.out, a.from.y)
	if a.fromLeft {
		fmt.Fprintf(b, `<line class="stub" x1="%d" y1="%d" x2="%d" y2="%d" marker-end="url(#arrow)"/>`, a.in, a.to.y, a.to.x, a.to.y)
		return
	}
	fmt.Fprintf(b, `<path class="shuffle" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"><title>shuffle %d</title></path>`,
		a.out, a.from.y, a.out+40, a.from.y, a.to.x, a.to.y-40, a.to.x, a.to.y, a.shuffle)
}

// renderStage writes a stage's box, linked to its page, with its RDDs and
// the arrows between them.
func renderStage(b *strings.Builder, box *stageBox) {
	st := box.stage
	fmt.Fprintf(b, `<a href="/stages/%d"><g class="stage %s" data-stage="%d" data-status="%s">`, st.ID, st.Status, st.ID, st.Status)
	fmt.Fprintf(b, `<rect class="cluster" x="%d" y="%d" width="%d" height="%d" rx="6"/>`, box.x, box.y, box.width, box.height)
	title := fmt.Sprintf("Stage %d · %s", st.ID, st.Status)
	if st.Kind == SampleStage {
		title = fmt.Sprintf("Stage %d · sample · %s", st.ID, st.Status)
	}
	fmt.Fprintf(b, `<text class="title" x="%d" y="%d">%s</text>`, box.x+stagePad, box.y+16, title)
	for _, a := range box.narrow {
		renderNarrow(b, a)
	}
	for i := range box.rdds {
		renderRDD(b, &box.rdds[i])
	}
	b.WriteString(`</g></a>`)
}

// renderNarrow writes an arrow between RDDs of a stage.
func renderNarrow(b *strings.Builder, a narrowArrow) {
	if a.around {
		fmt.Fprintf(b, `<path class="narrow" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`,
			a.from.x, a.from.y, a.from.x-15, a.from.y, a.to.x-15, a.to.y, a.to.x, a.to.y)
		return
	}
	fmt.Fprintf(b, `<line class="narrow" x1="%d" y1="%d" x2="%d" y2="%d" marker-end="url(#arrow)"/>`, a.from.x, a.from.y, a.to.x, a.to.y)
}

// renderRDD writes an RDD's box: its operation, where it was made, and a
// mark if it is cached; its whole name is the tooltip.
func renderRDD(b *strings.Builder, r *rddBox) {
	class, title := "rdd", r.rdd.Name
	if r.rdd.Cached {
		class, title = "rdd cached", r.rdd.Name+" (cached)"
	}
	fmt.Fprintf(b, `<g class="%s" data-rdd="%d"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="3"/>`,
		class, r.rdd.ID, html.EscapeString(title), r.x, r.y, rddWidth, rddHeight)
	if r.rdd.Cached {
		fmt.Fprintf(b, `<circle class="cached-mark" cx="%d" cy="%d" r="4"/>`, r.x+rddWidth-10, r.y+10)
	}
	op, site := rddLabel(r.rdd.Name)
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`, r.x+8, r.y+15, html.EscapeString(op))
	fmt.Fprintf(b, `<text class="site" x="%d" y="%d">%s</text></g>`, r.x+8, r.y+29, html.EscapeString(site))
}

// rddLabel returns the two lines of an RDD's box, each cut to fit: its
// operation, and where it was made.
func rddLabel(name string) (op, site string) {
	op, site, _ = strings.Cut(name, " at ")
	op = shorten(shortID(op), "")
	if file, line, ok := strings.Cut(site, ":"); ok {
		return op, shorten(file, ":"+line)
	}
	return op, shorten(site, "")
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
