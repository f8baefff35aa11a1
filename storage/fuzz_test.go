package storage

import (
	"strings"
	"testing"
)

// FuzzParseRDDBlock: a block id parses only in the canonical form, so no
// id can name a path outside the store or reach one block under two names.
func FuzzParseRDDBlock(f *testing.F) {
	for _, s := range []string{"rdd_1_2", "rdd_../../x", "rdd_01_2", "rdd_-1_2", "rdd_1_2/..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rdd, p, err := ParseRDDBlock(BlockID(s))
		if err != nil {
			return
		}
		if RDDBlock(rdd, p) != BlockID(s) || strings.ContainsAny(s, "/\\.") {
			t.Fatalf("id %q parsed as rdd %d partition %d", s, rdd, p)
		}
	})
}
