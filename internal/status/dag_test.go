package status

import "testing"

// The layout, before any SVG: columns follow the shuffles, RDDs that read
// them sit in rows of their own unless they have parents in the stage, and
// arrows go where the drawing needs them.
func TestLayoutGraph(t *testing.T) {
	g := layoutGraph([]Stage{
		{ID: 1, ShuffleID: 7, RDDs: []RDD{{ID: 10, Name: "Map [10]"}}},
		{ID: 2, ShuffleID: 8, RDDs: []RDD{{ID: 20, Name: "Map [20]"}}},
		{ID: 3, ParentStages: []int{1, 2}, RDDs: []RDD{
			{ID: 29, Name: "Cogroup [29]", Shuffles: []int{7}},
			{ID: 31, Name: "Source [31]"},
			{ID: 30, Name: "Join [30]", Parents: []int{29}, Shuffles: []int{8}},
			{ID: 32, Name: "Zip [32]", Parents: []int{30, 29}},
		}},
	})
	one, two, three := g.stages[0], g.stages[1], g.stages[2]
	if one.x != two.x || two.y <= one.y || three.x <= one.x+one.width {
		t.Errorf("stages at %d,%d, %d,%d and %d,%d: want 1 above 2, and 3 right of both", one.x, one.y, two.x, two.y, three.x, three.y)
	}
	if g.width != three.x+three.width+graphMargin || g.height < two.y+two.height+graphMargin {
		t.Errorf("drawing of %dx%d does not hold its stages", g.width, g.height)
	}
	rows := map[int]int{}
	for _, r := range three.rdds {
		rows[r.rdd.ID] = r.y
	}
	// 29 and 31 are sources: rows 0 and 1; 30 reads 29: row 1, beside 31;
	// 32 reads 30: row 2.
	if !(rows[29] < rows[31] && rows[31] == rows[30] && rows[30] < rows[32]) {
		t.Errorf("RDD rows at y %v", rows)
	}
	if len(g.shuffles) != 2 {
		t.Fatalf("%d shuffle arrows, want 2", len(g.shuffles))
	}
	// 29 is first in its row: shuffle 7 comes in from the left; 30 is not
	// (31 is): shuffle 8 comes in from above.
	if s := g.shuffles[0]; s.shuffle != 7 || !s.fromLeft || s.in != three.x || s.out != one.x+one.width {
		t.Errorf("shuffle 7: %+v", s)
	}
	if s := g.shuffles[1]; s.shuffle != 8 || s.fromLeft || s.out != two.x+two.width {
		t.Errorf("shuffle 8: %+v", s)
	}
	// 29 → 30 is one row down: straight; 29 → 32 skips a row: around.
	if n := three.narrow; len(n) != 3 || n[0].around || n[1].around || !n[2].around {
		t.Errorf("narrow arrows %+v: want 29→30 and 30→32 straight, 29→32 around", n)
	}
}
