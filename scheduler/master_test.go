package scheduler_test

import (
	"strings"
	"testing"

	"github.com/ember-go/ember/scheduler"
)

// FuzzParseMaster: a master URL parses into a usable master or an error
// that quotes it.
func FuzzParseMaster(f *testing.F) {
	for _, s := range []string{"local", "local[4]", "local[*]", "local-cluster[3]", "local-cluster[2,4]", "ember://a:1,b:2", "ember://", "local[-1]", "yarn"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := scheduler.ParseMaster(s)
		if err != nil {
			if !strings.Contains(err.Error(), "master") {
				t.Fatalf("%q: error %q does not say it is about the master", s, err)
			}
			return
		}
		switch m.Kind {
		case scheduler.LocalMaster, scheduler.LocalClusterMaster:
			if m.Slots < 1 {
				t.Fatalf("%q: %d slots", s, m.Slots)
			}
		case scheduler.StandaloneMaster:
			if len(m.Seeds) == 0 {
				t.Fatalf("%q: no seeds", s)
			}
		default:
			t.Fatalf("%q: kind %q", s, m.Kind)
		}
	})
}
