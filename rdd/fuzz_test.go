package rdd_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ember-go/ember/rdd"
)

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
