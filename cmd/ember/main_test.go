package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestRunDotProduct(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "products")
	out, err := runCLI(t, "run", "dotproduct", "--master", "local[2]", "--size", "10000", "--partitions", "3", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "dot product of 10000 elements: 9989002.0 (plain loop: 9989002.0)") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	for _, name := range []string{"part-00000.arrow", "part-00001.arrow", "part-00002.arrow", "_SUCCESS"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	// Again into the same directory: refused, unless --overwrite.
	if _, err := runCLI(t, "run", "dotproduct", "--master", "local[2]", "--size", "10000", "--partitions", "2", "--out", dir); err == nil {
		t.Error("an existing output directory was accepted")
	} else if !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("an existing output directory: %v; want an error that names --overwrite", err)
	}
	if _, err := runCLI(t, "run", "dotproduct", "--master", "local[2]", "--size", "10000", "--partitions", "2", "--out", dir, "--overwrite"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "part-00002.arrow")); err == nil {
		t.Error("--overwrite left a part of the old output")
	}
}

func TestRunWordCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(path, []byte("ember arrow ember\ngossip ember arrow\n"), 0o644)
	out, err := runCLI(t, "run", "wordcount", "--master", "local", "--input", path, "--top", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "       3 ember\n       2 arrow\n3 distinct words") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "counts")
	if _, err := runCLI(t, "run", "wordcount", "--master", "local", "--input", path, "--output", dir, "--partitions", "1"); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(dir, "part-00000.csv"))
	if err != nil || string(saved) != "word,count\nember,3\narrow,2\ngossip,1\n" {
		t.Fatalf("saved counts %q, %v", saved, err)
	}
}

func TestBenchRunsEveryWorkload(t *testing.T) {
	out, err := runCLI(t, "bench", "--master", "local[2]", "--size", "20000", "--runs", "1", "dotproduct", "sort")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dotproduct", "sort", "ratio", "GOMAXPROCS"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
}

func TestBadArguments(t *testing.T) {
	if _, err := runCLI(t, "run", "dotproduct", "--master", "yarn"); err == nil || !strings.Contains(err.Error(), `unknown master "yarn"`) {
		t.Fatalf("bad master: %v", err)
	}
	if _, err := runCLI(t, "run", "nosuch"); err == nil || !strings.Contains(err.Error(), `unknown example "nosuch"`) {
		t.Fatalf("bad example: %v", err)
	}
	if _, err := runCLI(t, "run", "dotproduct", "--size", "0"); err == nil || !strings.Contains(err.Error(), "--size") {
		t.Fatalf("zero size: %v", err)
	}
	if _, err := runCLI(t, "bench", "nosuch"); err == nil || !strings.Contains(err.Error(), "unknown benchmark") {
		t.Fatalf("bad workload: %v", err)
	}
	if _, err := runCLI(t, "run", "wordcount", "--input", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing input: %v", err)
	}
}

func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ember.yaml")
	os.WriteFile(file, []byte("task:\n  maxFailures: 3\nbogus: 1\n"), 0o600)
	t.Setenv("EMBER_BATCH_SIZE", "64")
	out, err := runCLI(t, "config", "--config", file, "--master", "local[2]")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"task.maxFailures", "file " + file, "env EMBER_BATCH_SIZE", "flag --master", `unknown key "bogus"`} {
		if !strings.Contains(out, want) {
			t.Errorf("ember config lacks %q:\n%s", want, out)
		}
	}
	if out, err := runCLI(t, "config", "--conf", "memory.limit=300m"); err != nil || !strings.Contains(out, "memory budget (local mode): 314572800 bytes, 300 MiB (set)") {
		t.Errorf("ember config with memory.limit: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "config", "--conf", "memory.limit=1m"); err == nil || !strings.Contains(err.Error(), "memory.limit") {
		t.Errorf("a budget under 8 MiB: %v", err)
	}
	if _, err := runCLI(t, "config", "--conf", "storage.memoryLimit=4XB"); err == nil || !strings.Contains(err.Error(), "storage.memoryLimit") ||
		!strings.Contains(err.Error(), "flag --conf") {
		t.Errorf("a bad value: %v", err)
	}
}

// ember ui-token prints what status servers of the secret's holders ask
// for: the same for every holder, another for another secret.
func TestUIToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, secret string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a, b := write("a", "0123456789abcdef0123456789abcdef"), write("b", "fedcba9876543210fedcba9876543210")
	tokenA, err := runCLI(t, "ui-token", "--secret-file", a)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := runCLI(t, "ui-token", "--secret-file", a)
	tokenB, _ := runCLI(t, "ui-token", "--secret-file", b)
	if len(strings.TrimSpace(tokenA)) != 32 || tokenA != again || tokenA == tokenB || strings.Contains(tokenA, "0123456789abcdef") {
		t.Errorf("tokens %q, %q (again), %q (another secret)", tokenA, again, tokenB)
	}
	t.Setenv("EMBER_SECRET", "")
	if _, err := runCLI(t, "ui-token"); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("without a secret: %v", err)
	}
}
