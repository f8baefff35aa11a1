package wordcount_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ember-go/ember/examples/wordcount"
	"github.com/ember-go/ember/rdd"
)

func TestCountMatchesPlainGo(t *testing.T) {
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const parts = 3
	const size = 200_000
	want := map[string]int64{}
	for p := range parts {
		for line := range wordcount.Lines(p, size/parts) {
			for _, w := range strings.Fields(line) {
				want[w]++
			}
		}
	}
	got, err := wordcount.Count(context.Background(), wordcount.GenerateText(s, size, parts), 4)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, p := range got {
		m[p.Key] = p.Value
	}
	if !maps.Equal(m, want) {
		t.Fatalf("counts differ from the plain-Go count")
	}
	if !slices.IsSortedFunc(got, func(a, b rdd.Pair[string, int64]) int { return int(b.Value - a.Value) }) {
		t.Fatal("counts are not sorted, most frequent first")
	}

	// The same on a file read with TextFile.
	path := filepath.Join(t.TempDir(), "text.txt")
	os.WriteFile(path, []byte("b a b\n\nc b a\n"), 0o644)
	got, err = wordcount.Count(context.Background(), rdd.TextFile(s, path, 2), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []rdd.Pair[string, int64]{{Key: "b", Value: 3}, {Key: "a", Value: 2}, {Key: "c", Value: 1}}; !slices.Equal(got, want) {
		t.Fatalf("file count = %v, want %v", got, want)
	}
}
