package rdd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ember-go/ember/internal/config"
	"github.com/ember-go/ember/rdd"
)

// loadConfig loads the configuration of rdd.Config in layers, as the CLI
// does.
func loadConfig(opts config.LoadOptions) (rdd.Config, []config.Setting, error) {
	return config.Registered[rdd.Config]().Load(opts)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func settingOf(settings []config.Setting, key string) config.Setting {
	for _, s := range settings {
		if s.Key == key {
			return s
		}
	}
	return config.Setting{}
}

func TestLoadConfigLayers(t *testing.T) {
	file := writeFile(t, "ember.yaml", "master: local[2]\ntask:\n  maxFailures: 3\nshuffle:\n  compression: zstd\nlocality:\n  wait: 250ms\nnosuch: 1\n")
	var warnings []string
	cfg, settings, err := loadConfig(config.LoadOptions{
		File:       file,
		Env:        env(map[string]string{"EMBER_TASK_MAXFAILURES": "5", "EMBER_BATCH_SIZE": "100"}),
		Flags:      [][2]string{{"task.maxFailures", "6"}},
		FlagSource: []string{"--conf"},
		Warn:       func(w string) { warnings = append(warnings, w) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]config.Setting{
		"master":              {Value: "local[2]", Source: "file " + file},
		"shuffle.compression": {Value: "zstd", Source: "file " + file},
		"locality.wait":       {Value: "250ms", Source: "file " + file},
		"batch.size":          {Value: "100", Source: "env EMBER_BATCH_SIZE"},
		"task.maxFailures":    {Value: "6", Source: "--conf"},
		"storage.memoryLimit": {Value: "1g", Source: "default"},
	} {
		got := settingOf(settings, key)
		if got.Value != want.Value || got.Source != want.Source {
			t.Errorf("%s = %q from %q, want %q from %q", key, got.Value, got.Source, want.Value, want.Source)
		}
	}
	if cfg.TaskMaxFailures != 6 || cfg.BatchSize != 100 || cfg.Master != "local[2]" {
		t.Errorf("config %+v", cfg)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"nosuch"`) || !strings.Contains(warnings[0], file) {
		t.Errorf("warnings %q, want one about nosuch in %s", warnings, file)
	}
	if len(settings) != len(config.Registered[rdd.Config]().Keys) {
		t.Errorf("%d settings for %d keys", len(settings), len(config.Registered[rdd.Config]().Keys))
	}

	// TOML too.
	toml := writeFile(t, "ember.toml", "master = \"local[3]\"\n[cluster]\nexecutorWait = \"5s\"\n")
	cfg, _, err = loadConfig(config.LoadOptions{File: toml, Env: env(nil)})
	if err != nil || cfg.Master != "local[3]" || cfg.ExecutorWait.String() != "5s" {
		t.Errorf("from TOML: %+v, %v", cfg, err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "ember.yaml")
	os.WriteFile(unreadable, []byte("master: local\n"), 0o000)
	for name, tc := range map[string]struct {
		opts config.LoadOptions
		want []string
	}{
		"unparsable size in env": {config.LoadOptions{Env: env(map[string]string{"EMBER_STORAGE_MEMORYLIMIT": "4XB"})},
			[]string{"storage.memoryLimit", `"4XB"`, "env EMBER_STORAGE_MEMORYLIMIT"}},
		"negative failures in a flag": {config.LoadOptions{Env: env(nil), Flags: [][2]string{{"task.maxFailures", "-2"}}, FlagSource: []string{"--conf"}},
			[]string{"task.maxFailures", "-2", "--conf"}},
		"unknown master in a file": {config.LoadOptions{Env: env(nil), File: writeFile(t, "m.yaml", "master: yarn\n")},
			[]string{"master", "yarn", "m.yaml"}},
		"malformed YAML": {config.LoadOptions{Env: env(nil), File: writeFile(t, "bad.yaml", "master: local\n  task: [\n")},
			[]string{"bad.yaml", "line"}},
		"missing file": {config.LoadOptions{Env: env(nil), File: filepath.Join(dir, "missing.yaml")},
			[]string{"missing.yaml"}},
		"unknown flag key": {config.LoadOptions{Env: env(nil), Flags: [][2]string{{"nosuch", "1"}}, FlagSource: []string{"--conf"}},
			[]string{"nosuch", "--conf"}},
		"heartbeats": {config.LoadOptions{Env: env(map[string]string{"EMBER_EXECUTOR_HEARTBEATTIMEOUT": "1s", "EMBER_EXECUTOR_HEARTBEATINTERVAL": "2s"})},
			[]string{"heartbeatTimeout"}},
	} {
		_, _, err := loadConfig(tc.opts)
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to mention %q", name, err, w)
			}
		}
	}
	if os.Getuid() != 0 { // root reads anything
		if _, _, err := loadConfig(config.LoadOptions{Env: env(nil), File: unreadable}); err == nil || !strings.Contains(err.Error(), unreadable) {
			t.Errorf("an unreadable file: %v", err)
		}
	}
}

// The table of keys in docs/configuration.md is generated from the code
// (ember config --markdown); it must not drift.
func TestConfigDocsMatchTheCode(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "-->\n")
	table, _, ok2 := strings.Cut(rest, "<!-- /keys -->")
	if !ok || !ok2 || !strings.Contains(string(doc), "<!-- keys:") {
		t.Fatal("docs/configuration.md has no generated key table between <!-- keys: … --> and <!-- /keys -->")
	}
	if table != config.Registered[rdd.Config]().Markdown() {
		t.Errorf("docs/configuration.md's key table differs from the code: regenerate it with `go run ./cmd/ember config --markdown`")
	}
}

func TestStageEvents(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	var mu sync.Mutex
	counts := map[rdd.StageEventKind]int{}
	tasks := 0
	s.OnStageEvent(func(ev rdd.StageEvent) {
		mu.Lock()
		defer mu.Unlock()
		counts[ev.Kind]++
		if ev.Kind == rdd.StageStarted {
			tasks += ev.Tasks
		}
	})
	pairs := rdd.Map(rdd.Range(s, 0, 100, 5), func(i int64) rdd.Pair[int64, int64] { return rdd.Pair[int64, int64]{Key: i % 3, Value: i} })
	if _, err := rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 2).Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// A map stage of 5 tasks, a result stage of 2.
	if counts[rdd.StageStarted] != 2 || counts[rdd.StageEnded] != 2 || tasks != 7 ||
		counts[rdd.TaskStarted] != 7 || counts[rdd.TaskEnded] != 7 {
		t.Errorf("events %v, %d tasks announced", counts, tasks)
	}
}
