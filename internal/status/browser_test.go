package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ember-go/ember/internal/status"
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
// job → stage. The jobs page must follow the job as its stages start, the
// job page's graph and the stage page's task table must show the job's
// stages and tasks as the API has them, and the pages must follow the job
// to its end without a reload. The job is played to the store as the DAG
// scheduler reports one (rdd's status tests check what a real job
// reports).
func TestUIInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	ctx := browser(t)
	store := status.NewStore(0, status.Live{Executors: func() []status.Executor {
		return []status.Executor{{Name: "driver", State: "active", Cores: 2}}
	}})
	srv := httptest.NewServer(store.Handler())
	defer srv.Close()
	base := srv.URL
	job := playJob(store)
	defer job.stop()

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
	// waitFor waits until ch is closed, or fails the test when the
	// browser's time is up.
	waitFor := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		}
	}

	// Jobs: the page opens while the job's first stage runs, and follows
	// the job until its third stage runs. The job goes on only once the
	// page is open, so that only the page's own updates can show that.
	do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(`tr[data-job="1"] a`)))
	job.proceed.open()
	// The sixth column counts the job's stages: succeeded/started.
	thirdStage := chromedp.Poll[chromedp.Void](`document.querySelector('tr[data-job="1"] td:nth-child(6)').textContent === "2/3"`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
	if _, err := chromedp.Run(ctx, thirdStage); err != nil {
		t.Fatalf("the jobs page did not follow job 1 to its third stage: %v", err)
	}
	waitFor(job.running, "the third stage's tasks did not start")
	var apiJob struct {
		ID     int   `json:"id"`
		Stages []int `json:"stages"`
	}
	getJSON(t, base+"/api/v1/jobs/1", &apiJob)
	if len(apiJob.Stages) != 3 {
		t.Fatalf("the jobs page shows a third stage, the API has stages %v", apiJob.Stages)
	}
	last := apiJob.Stages[2]
	if status, err := chromedp.Run(ctx, chromedp.Text(css(`tr[data-job="1"] .status`))); err != nil || status != "running" {
		t.Errorf("the jobs page says job 1 is %q (%v), want running", status, err)
	}
	shot("jobs.png")

	// Jobs → job.
	do(chromedp.Click(css(`tr[data-job="1"] a`)), chromedp.WaitVisible(css(`svg.dag`)))
	drawn := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll("svg.dag g.stage")).map(g => g.dataset.stage)`)
	stageStatus := evaluate[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll("svg.dag g.stage")).map(g => [g.dataset.stage, g.dataset.status]))`)
	shot("job-running.png")
	want := make([]string, len(apiJob.Stages))
	for i, id := range apiJob.Stages {
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
	job.release.open()
	waitFor(job.done, "the job did not end")
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
	do(chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", base, apiJob.ID)), chromedp.WaitVisible(css(`svg.dag`)))
	if !evaluate[bool](t, ctx, `Array.from(document.querySelectorAll("svg.dag g.stage")).every(g => g.dataset.status === "succeeded")`) {
		t.Error("the finished job's graph draws stages that did not succeed")
	}
	shot("job-done.png")
	t.Logf("screenshots in %s", shots)
}

// playedJob is a job that playJob plays to a store.
type playedJob struct {
	// proceed holds the job after its first stage; release holds the
	// tasks of its last stage.
	proceed, release *gate
	// running is closed once the tasks of the last stage run; done, once
	// the job ended.
	running, done chan struct{}
}

// playJob plays to store, in the background, the events of a job as the
// DAG scheduler reports them, of the job that groups words by length after
// counting them: words → counts (shuffle 1) → counts by length (shuffle
// 2) → the result stage, of 4, 3 and 2 tasks, all on the driver.
func playJob(store *status.Store) *playedJob {
	j := &playedJob{proceed: newGate(), release: newGate(), running: make(chan struct{}), done: make(chan struct{})}
	stages := []status.StageStart{
		{ID: 1, JobID: 1, Name: "Map [2] at words.go:10", Kind: status.MapStage, Tasks: 4, ShuffleID: 1, RDDs: []status.RDD{
			{ID: 1, Name: "Parallelize [1] at words.go:9"},
			{ID: 2, Name: "Map [2] at words.go:10", Parents: []int{1}},
		}},
		{ID: 2, JobID: 1, Name: "Map [4] at words.go:12", Kind: status.MapStage, Tasks: 3, ShuffleID: 2, Reads: []int{1}, RDDs: []status.RDD{
			{ID: 3, Name: "ReduceByKey [3] at words.go:11", Shuffles: []int{1}},
			{ID: 4, Name: "Map [4] at words.go:12", Parents: []int{3}},
		}},
		{ID: 3, JobID: 1, Name: "Map [6] at words.go:14", Kind: status.ResultStage, Tasks: 2, Reads: []int{2}, RDDs: []status.RDD{
			{ID: 5, Name: "GroupByKey [5] at words.go:13", Shuffles: []int{2}},
			{ID: 6, Name: "Map [6] at words.go:14", Parents: []int{5}},
		}},
	}
	go func() {
		defer close(j.done)
		store.JobStarted(1, "Collect", "Map [6] at words.go:14")
		playStage(store, stages[0], nil)
		j.proceed.wait()
		playStage(store, stages[1], nil)
		playStage(store, stages[2], func() {
			close(j.running)
			j.release.wait()
		})
		store.JobEnded(1, nil)
	}()
	return j
}

// stop lets the job run to its end, and waits for it.
func (j *playedJob) stop() {
	j.proceed.open()
	j.release.open()
	<-j.done
}

// playStage plays a stage whose tasks all succeed; hold, if not nil, runs
// while they all run.
func playStage(store *status.Store, st status.StageStart, hold func()) {
	store.StageStarted(st)
	tasks := make([]status.TaskAttempt, st.Tasks)
	for p := range tasks {
		tasks[p] = status.TaskAttempt{Partition: p, Attempt: 1, Executor: "driver", Launched: time.Now()}
		store.TaskStarted(st.ID, tasks[p])
	}
	if hold != nil {
		hold()
	}
	for _, task := range tasks {
		task.Duration = time.Since(task.Launched)
		task.Metrics = status.TaskMetrics{InputRecords: 100, InputBytes: 800}
		store.TaskEnded(st.ID, task, nil)
	}
	store.StageEnded(st.ID, nil)
}

// gate holds a played job until the test opens it.
type gate struct {
	once sync.Once
	c    chan struct{}
}

func newGate() *gate { return &gate{c: make(chan struct{})} }

// open lets the job go on; it may be called more than once.
func (g *gate) open() { g.once.Do(func() { close(g.c) }) }

func (g *gate) wait() { <-g.c }

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
