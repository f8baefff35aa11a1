package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ember-go/ember/rdd"
)

// browser returns a headless Chromium context, or skips the test when
// there is no Chromium, unless EMBER_BROWSER_TEST is set (as in CI,
// which installs Debian's chromium): then a missing browser fails it.
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("EMBER_BROWSER_TEST") != "" {
			t.Fatal("EMBER_BROWSER_TEST is set but no Chromium is installed (apt-get install chromium)")
		}
		t.Skip("no Chromium installed; set EMBER_BROWSER_TEST=1 to require it")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser, which lives as long as ctx: the
	// time limit goes on a context derived from it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// css is a CSS selector.
func css(format string, args ...any) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(format, args...)) }

// evaluate runs a JavaScript expression in the page and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// A real browser walks the UI while a job of three stages runs: jobs →
// job → stage. The job page's graph and the stage page's task table must
// show the job's real stages and tasks, and the pages must follow the job
// to its end without a reload.
func TestUIInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	ctx := browser(t)
	s, err := rdd.NewSession(rdd.WithMaster("local[2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.UIAddr()

	// Three stages: words → counts (shuffle 1) → counts by length
	// (shuffle 2) → the result stage, which waits on gate.
	gate := make(chan struct{})
	words := rdd.Parallelize(s, strings.Fields(strings.Repeat("ember spark arrow gossip lineage stage task shuffle ", 50)), 4)
	counts := rdd.ReduceByKey(rdd.Map(words, func(w string) rdd.Pair[string, int] { return rdd.Pair[string, int]{Key: w, Value: 1} }),
		func(a, b int) int { return a + b }, 3)
	byLength := rdd.GroupByKey(rdd.Map(counts, func(p rdd.Pair[string, int]) rdd.Pair[int, string] {
		return rdd.Pair[int, string]{Key: len(p.Key), Value: p.Key}
	}), 2)
	held := rdd.Map(byLength, func(p rdd.Pair[int, []string]) rdd.Pair[int, []string] {
		<-gate
		return p
	})
	type result struct {
		groups []rdd.Pair[int, []string]
		err    error
	}
	done := make(chan result, 1)
	go func() {
		groups, err := held.Collect(context.Background())
		done <- result{groups, err}
	}()
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	defer release()

	// Wait, through the API, until the last stage runs.
	var job struct {
		ID     int   `json:"id"`
		Stages []int `json:"stages"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(job.Stages) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the job's third stage did not start: %+v", job)
		}
		time.Sleep(20 * time.Millisecond)
		getJSON(t, base+"/api/v1/jobs/1", &job)
	}
	last := job.Stages[2]
	shots := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name), png, 0o644)
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
	}
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	// Jobs → job.
	do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`tr[data-job="1"] a`)))
	if status, err := chromedp.Run(ctx, chromedp.Text(css(`tr[data-job="1"] .status`))); err != nil || status != "running" {
		t.Errorf("the jobs page says job 1 is %q (%v), want running", status, err)
	}
	shot("jobs.png")
	do(chromedp.Click(css(`tr[data-job="1"] a`)), chromedp.WaitVisible(css(`svg.dag`)))
	drawn := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll("svg.dag g.stage")).map(g => g.dataset.stage)`)
	stageStatus := evaluate[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll("svg.dag g.stage")).map(g => [g.dataset.stage, g.dataset.status]))`)
	shot("job-running.png")
	want := make([]string, len(job.Stages))
	for i, id := range job.Stages {
		want[i] = strconv.Itoa(id)
	}
	slices.Sort(drawn)
	if !slices.Equal(drawn, want) {
		t.Errorf("the job's graph draws stages %v, the job has %v", drawn, want)
	}
	for i, id := range want {
		wantStatus := "succeeded"
		if i == 2 {
			wantStatus = "running"
		}
		if stageStatus[id] != wantStatus {
			t.Errorf("the graph draws stage %s as %q, want %q", id, stageStatus[id], wantStatus)
		}
	}
	// The graph links the stages as the job does: three RDD boxes or
	// more, and an arrow for each shuffle.
	rdds := evaluate[int](t, ctx, `document.querySelectorAll("svg.dag g.rdd").length`)
	shuffles := evaluate[int](t, ctx, `document.querySelectorAll("svg.dag path.shuffle").length`)
	if rdds < 3 || shuffles != 2 {
		t.Errorf("the graph has %d RDDs and %d shuffle arrows, want at least 3 and 2", rdds, shuffles)
	}

	// Job → the running stage, through its row in the stage table.
	taskRows := `Array.from(document.querySelectorAll("table.tasks tbody tr[data-partition]")).map(r => ({partition: r.dataset.partition, status: r.dataset.status, executor: r.querySelector(".executor").textContent}))`
	do(chromedp.Click(css(`table.stages tr[data-stage="%d"] a`, last)), chromedp.WaitVisible(css(`table.tasks`)))
	rows := evaluate[[]map[string]string](t, ctx, taskRows)
	shot("stage-running.png")
	if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(url, fmt.Sprintf("/stages/%d", last)) {
		t.Errorf("the stage link led to %s (%v)", url, err)
	}
	var tasks []struct {
		Partition int    `json:"partition"`
		Status    string `json:"status"`
	}
	getJSON(t, fmt.Sprintf("%s/api/v1/stages/%d/tasks", base, last), &tasks)
	if len(rows) == 0 || len(rows) != len(tasks) {
		t.Errorf("the task table has %d rows, the API %d tasks", len(rows), len(tasks))
	}
	for _, r := range rows {
		if r["status"] != "running" || r["executor"] != "driver" {
			t.Errorf("task row %v: want running on the driver", r)
		}
	}

	// The job ends; the open page follows it without a reload.
	release()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	do(chromedp.WaitVisible(css(`dl.summary .status.succeeded`)))
	rows = evaluate[[]map[string]string](t, ctx, taskRows)
	shot("stage-done.png")
	if len(rows) != 2 {
		t.Errorf("the finished stage shows %d task rows, want 2", len(rows))
	}
	for _, r := range rows {
		if r["status"] != "succeeded" {
			t.Errorf("task row %v: want succeeded", r)
		}
	}
	do(chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", base, job.ID)), chromedp.WaitVisible(css(`svg.dag`)))
	if !evaluate[bool](t, ctx, `Array.from(document.querySelectorAll("svg.dag g.stage")).every(g => g.dataset.status === "succeeded")`) {
		t.Error("the finished job's graph draws stages that did not succeed")
	}
	shot("job-done.png")
	t.Logf("screenshots in %s", shots)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}
