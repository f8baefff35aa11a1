package rdd_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ember-go/ember/rdd"
)

// FuzzParseMaster: a master URL parses into a usable master or an error
// that quotes it.
func FuzzParseMaster(f *testing.F) {
	for _, s := range []string{"local", "local[4]", "local[*]", "local-cluster[3]", "local-cluster[2,4]", "ember://a:1,b:2", "ember://", "local[-1]", "yarn"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := rdd.ParseMaster(s)
		if err != nil {
			if !strings.Contains(err.Error(), "master") {
				t.Fatalf("%q: error %q does not say it is about the master", s, err)
			}
			return
		}
		switch m.Kind {
		case "local", "local-cluster":
			if m.Slots < 1 {
				t.Fatalf("%q: %d slots", s, m.Slots)
			}
		case "ember":
			if len(m.Seeds) == 0 {
				t.Fatalf("%q: no seeds", s)
			}
		default:
			t.Fatalf("%q: kind %q", s, m.Kind)
		}
	})
}

// FuzzWithConf: any key and value make a session option that either
// applies or fails with an error naming the key; never a panic.
func FuzzWithConf(f *testing.F) {
	for _, kv := range [][2]string{{"master", "local[2]"}, {"storage.memoryLimit", "4XB"}, {"task.maxFailures", "-3"},
		{"cluster.executorWait", "5s"}, {"locality.wait", "banana"}, {"nosuch", "x"}, {"batch.size", "0"}} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		cfg := rdd.DefaultConfig()
		err := rdd.WithConf(key, value)(&cfg)
		if err != nil && !strings.Contains(err.Error(), key) && !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
			t.Fatalf("%s=%q: error %q does not name the key", key, value, err)
		}
	})
}
