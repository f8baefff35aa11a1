package rdd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// FuzzArrowFile: any bytes read as an Arrow file give elements or an
// error naming the file; never a panic, and never more memory than the
// reading budget.
func FuzzArrowFile(f *testing.F) {
	fuzzFile(f, "data.arrow", func(s *rdd.Session, dir string) error {
		return rdd.Parallelize(s, records(20), 1).SaveAsArrow(context.Background(), dir)
	}, func(s *rdd.Session, path string) error {
		_, err := rdd.ArrowFile[record](s, path).Collect(context.Background())
		return err
	})
}

// FuzzParquetFile is FuzzArrowFile for Parquet files.
func FuzzParquetFile(f *testing.F) {
	fuzzFile(f, "data.parquet", func(s *rdd.Session, dir string) error {
		return rdd.Parallelize(s, records(20), 1).SaveAsParquet(context.Background(), dir)
	}, func(s *rdd.Session, path string) error {
		_, err := rdd.ParquetFile[record](s, path).Collect(context.Background())
		return err
	})
}

// fuzzFile fuzzes read with files named name, seeded with the one part
// that save writes, and with a reading budget of 64 MiB.
func fuzzFile(f *testing.F, name string, save func(*rdd.Session, string) error, read func(*rdd.Session, string) error) {
	defer rdd.SetReadBudget(rdd.SetReadBudget(64 << 20))
	s := newSession(f, rdd.WithMaster("local[1]"), rdd.WithConf("task.maxFailures", "1"))
	seed := onePart(f, func(dir string) error { return save(s, dir) })
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	stream, body := idStream(f, 50)
	f.Add(declareBody(stream, body, 1<<40))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := read(s, path); err != nil && !strings.Contains(err.Error(), name) {
			t.Fatalf("%v does not name the file", err)
		}
	})
}
