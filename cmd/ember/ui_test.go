package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// ember run --keep-ui keeps the web UI up once the job ends, showing it,
// until it is interrupted; then it exits cleanly.
func TestRunKeepsTheUI(t *testing.T) {
	cmd := exec.Command(emberBinary(t), "run", "dotproduct", "--size", "10000", "--keep-ui", "--conf", "ui.port=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stderr)
	addr := regexp.MustCompile(`the web UI stays at (http://[^ ]+/)`)
	var url string
	for url == "" && lines.Scan() {
		if m := addr.FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatal("ember run --keep-ui never said the UI stays")
	}
	go func() {
		for lines.Scan() {
		}
	}()
	resp, err := http.Get(url + "api/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []struct{ Status string }
	err = json.NewDecoder(resp.Body).Decode(&jobs)
	resp.Body.Close()
	if err != nil || len(jobs) == 0 || jobs[len(jobs)-1].Status != "succeeded" {
		t.Fatalf("jobs %+v (%v), want the finished job", jobs, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after Ctrl-C: %v, want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ember run --keep-ui did not stop on SIGINT")
	}
}
