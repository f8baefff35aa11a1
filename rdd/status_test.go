package rdd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ember-go/ember/internal/auth/authtest"
	"github.com/ember-go/ember/internal/await"
	"github.com/ember-go/ember/rdd"
	"github.com/prometheus/common/expfmt"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	code, body := getPage(t, url)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v: %s", url, err, body)
	}
	return code
}

type apiJob struct {
	ID     int    `json:"id"`
	Action string `json:"action"`
	Status string `json:"status"`
	Stages []int  `json:"stages"`
}

type apiStage struct {
	ID           int    `json:"id"`
	JobID        int    `json:"jobId"`
	Status       string `json:"status"`
	Tasks        int    `json:"tasks"`
	Completed    int    `json:"completed"`
	Running      int    `json:"running"`
	ShuffleID    int    `json:"shuffleId"`
	ParentStages []int  `json:"parentStages"`
	RDDs         []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"rdds"`
	Metrics apiMetrics `json:"metrics"`
}

type apiMetrics struct {
	InputRecords        int64 `json:"inputRecords"`
	InputBytes          int64 `json:"inputBytes"`
	OutputRecords       int64 `json:"outputRecords"`
	ShuffleReadRecords  int64 `json:"shuffleReadRecords"`
	ShuffleReadBytes    int64 `json:"shuffleReadBytes"`
	ShuffleWriteRecords int64 `json:"shuffleWriteRecords"`
	ShuffleWriteBytes   int64 `json:"shuffleWriteBytes"`
}

type apiTask struct {
	Partition int        `json:"partition"`
	Attempt   int        `json:"attempt"`
	Executor  string     `json:"executor"`
	Status    string     `json:"status"`
	Duration  float64    `json:"durationMs"`
	Metrics   apiMetrics `json:"metrics"`
}

// checkStages checks the two stages of a job that reduces 100 records to 3
// keys: a map stage of 4 tasks feeding a result stage of 2, with the
// records each read and wrote, and their tasks.
func checkStages(t *testing.T, base string, job apiJob, executors int) {
	t.Helper()
	if len(job.Stages) != 2 {
		t.Fatalf("job %d has stages %v, want 2", job.ID, job.Stages)
	}
	var mapStage, result apiStage
	getJSON(t, base+"/api/v1/stages/"+itoa(job.Stages[0]), &mapStage)
	getJSON(t, base+"/api/v1/stages/"+itoa(job.Stages[1]), &result)
	for _, st := range []apiStage{mapStage, result} {
		if st.Status != "succeeded" || st.JobID != job.ID || st.Completed != st.Tasks || st.Tasks == 0 || st.Running != 0 || len(st.RDDs) == 0 {
			t.Errorf("stage %d: %+v", st.ID, st)
		}
	}
	if mapStage.ShuffleID == 0 || result.ShuffleID != 0 || !slices.Equal(result.ParentStages, []int{mapStage.ID}) {
		t.Errorf("the result stage should read the map stage's shuffle: map %+v, result %+v", mapStage, result)
	}
	// Records: 100 in, at most 3 keys per map task written (combined on
	// the map side), all of them read, 3 keys out.
	if m := mapStage.Metrics; m.InputRecords != 100 || m.ShuffleWriteRecords == 0 || m.ShuffleWriteRecords > 12 || m.ShuffleWriteBytes == 0 {
		t.Errorf("map stage metrics %+v", m)
	}
	if m := result.Metrics; m.ShuffleReadRecords != mapStage.Metrics.ShuffleWriteRecords || m.ShuffleReadBytes != mapStage.Metrics.ShuffleWriteBytes || m.OutputRecords != 3 || m.InputRecords != 0 {
		t.Errorf("result stage metrics %+v, map stage wrote %+v", m, mapStage.Metrics)
	}
	seen := map[string]bool{}
	for _, st := range []apiStage{mapStage, result} {
		var tasks []apiTask
		if code := getJSON(t, base+"/api/v1/stages/"+itoa(st.ID)+"/tasks", &tasks); code != 200 || len(tasks) != st.Tasks {
			t.Fatalf("stage %d: %d, %d tasks, want %d", st.ID, code, len(tasks), st.Tasks)
		}
		var in, out int64
		for _, task := range tasks {
			if task.Status != "succeeded" || task.Attempt != 1 || task.Executor == "" || task.Duration <= 0 {
				t.Errorf("stage %d: task %+v", st.ID, task)
			}
			seen[task.Executor] = true
			in += task.Metrics.InputRecords + task.Metrics.ShuffleReadRecords
			out += task.Metrics.OutputRecords + task.Metrics.ShuffleWriteRecords
		}
		if sum := st.Metrics.InputRecords + st.Metrics.ShuffleReadRecords; in != sum {
			t.Errorf("stage %d: tasks read %d records, the stage %d", st.ID, in, sum)
		}
		if sum := st.Metrics.OutputRecords + st.Metrics.ShuffleWriteRecords; out != sum {
			t.Errorf("stage %d: tasks wrote %d records, the stage %d", st.ID, out, sum)
		}
	}
	if len(seen) != executors {
		t.Errorf("tasks ran on %v, want %d executors", seen, executors)
	}
}

// reduceJob reduces 100 records (Range 0..100 in 4 partitions) to 3 keys
// over 2 partitions; slow sleeps in every map task first.
func reduceJob(ctx context.Context, s *rdd.Session, slow time.Duration) ([]rdd.Pair[int64, int64], error) {
	pairs := rdd.MapPartitions(rdd.Range(s, 0, 100, 4), func(_ int, in iter.Seq[int64]) iter.Seq[rdd.Pair[int64, int64]] {
		time.Sleep(slow)
		return func(yield func(rdd.Pair[int64, int64]) bool) {
			for i := range in {
				if !yield(rdd.Pair[int64, int64]{Key: i % 3, Value: i}) {
					return
				}
			}
		}
	})
	return rdd.ReduceByKey(pairs, func(a, b int64) int64 { return a + b }, 2).Collect(ctx)
}

// The status API during and after a job, and the metrics.
func TestStatusAPI(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	base := "http://" + s.UIAddr()
	done := make(chan error, 1)
	go func() {
		_, err := reduceJob(context.Background(), s, 300*time.Millisecond)
		done <- err
	}()

	// During the job.
	var jobs []apiJob
	var stages []apiStage
	if !await.Until(10*time.Second, func() bool {
		jobs, stages = nil, nil
		getJSON(t, base+"/api/v1/jobs", &jobs)
		getJSON(t, base+"/api/v1/stages", &stages)
		return len(jobs) == 1 && jobs[0].Status == "running" && len(stages) > 0 && stages[0].Status == "running" && stages[0].Running > 0
	}) {
		t.Fatalf("no running job and stage seen: %+v %+v", jobs, stages)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// After it.
	var job apiJob
	if code := getJSON(t, base+"/api/v1/jobs/1", &job); code != 200 || job.Status != "succeeded" || job.Action != "Collect" {
		t.Errorf("the finished job: %d %+v", code, job)
	}
	checkStages(t, base, job, 1)

	// Unknown ids and pages: 404 with a message, in JSON for the API and
	// as a page for the UI.
	for _, path := range []string{"/api/v1/jobs/999", "/api/v1/jobs/abc", "/api/v1/stages/7777", "/api/v1/stages/7777/tasks", "/api/v1/nosuch"} {
		var e struct{ Error string }
		if code := getJSON(t, base+path, &e); code != http.StatusNotFound || e.Error == "" {
			t.Errorf("%s: %d %q, want 404 with a message", path, code, e.Error)
		}
	}
	for path, want := range map[string]string{"/nosuch": "no page /nosuch", "/jobs/999": "no job 999", "/stages/x": "no stage x"} {
		code, body := getPage(t, base+path)
		if code != http.StatusNotFound || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 404 saying %q:\n%s", path, code, want, body)
		}
	}
	// The pages of the job and its stages draw the stage graph and list
	// the tasks.
	code, body := getPage(t, base+"/jobs/1")
	for _, id := range job.Stages {
		if want := fmt.Sprintf(`data-stage="%d"`, id); code != 200 || !strings.Contains(body, want) || !strings.Contains(body, "<svg") {
			t.Errorf("/jobs/1: %d, no SVG with %s", code, want)
		}
	}
	code, body = getPage(t, base+"/stages/"+itoa(job.Stages[0]))
	if n := strings.Count(body, `<tr data-partition=`); code != 200 || n != 4 || strings.Count(body, `class="status succeeded"`) < 4 {
		t.Errorf("/stages/%d: %d, %d succeeded task rows, want 4", job.Stages[0], code, n)
	}
	for _, path := range []string{"/", "/jobs/", "/stages/", "/executors/", "/storage/", "/static/style.css", "/static/live.js"} {
		if code, body := getPage(t, base+path); code != 200 || len(body) == 0 {
			t.Errorf("%s: %d", path, code)
		}
	}

	// Metrics parse with the Prometheus text parser.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families, err := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tasks := families["ember_tasks_total"]
	if tasks == nil || families["ember_jobs_total"] == nil || families["ember_executors"] == nil {
		t.Fatalf("metrics lack ember_tasks_total, ember_jobs_total or ember_executors: %d families", len(families))
	}
	var succeeded float64
	for _, m := range tasks.Metric {
		if m.Label[0].GetValue() == "succeeded" {
			succeeded = m.Counter.GetValue()
		}
	}
	if succeeded != 6 {
		t.Errorf("ember_tasks_total{outcome=succeeded} = %v, want 6 (4 map tasks, 2 reduce)", succeeded)
	}
	records := map[string]float64{}
	for _, m := range families["ember_task_records_total"].GetMetric() {
		records[m.Label[0].GetValue()] = m.Counter.GetValue()
	}
	if records["input"] != 100 || records["output"] != 3 || records["shuffle_write"] == 0 || records["shuffle_read"] != records["shuffle_write"] {
		t.Errorf("ember_task_records_total: %v", records)
	}
}

// getPage returns the status and the body of a page.
func getPage(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

var reduce = rdd.Func(func(ctx context.Context, s *rdd.Session, _ int) ([]rdd.Pair[int64, int64], error) {
	return reduceJob(ctx, s, 0)
})

var cachedThenDropped = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	r := rdd.Range(s, 0, n, 4).Cache()
	defer r.Unpersist()
	if _, err := r.Count(ctx); err != nil {
		return 0, err
	}
	return r.Count(ctx) // from the cache
})

var cachedCount = rdd.Func(func(ctx context.Context, s *rdd.Session, n int64) (int64, error) {
	r := rdd.Range(s, 0, n, 4).Cache()
	return r.Count(ctx)
})

func TestStatusAPIOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts executor processes")
	}
	s := newSession(t, rdd.WithMaster("local-cluster[2]"))
	if _, err := cachedCount.Run(context.Background(), s, 1000); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.UIAddr()
	var execs []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Address  string `json:"address"`
		Gossip   string `json:"gossip"`
		Cores    int    `json:"cores"`
		Finished int    `json:"finishedTasks"`
		Memory   int64  `json:"memoryLimit"`
	}
	// Wait for both executors' heartbeats; if they do not come, the checks
	// below say what is missing.
	finished := 0
	await.Until(5*time.Second, func() bool {
		execs = nil
		getJSON(t, base+"/api/v1/executors", &execs)
		finished = 0
		heartbeats := len(execs) == 2
		for _, e := range execs {
			finished += e.Finished
			heartbeats = heartbeats && e.Memory > 0
		}
		return heartbeats
	})
	if len(execs) != 2 || finished != 4 {
		t.Errorf("executors %+v, want 2 that finished 4 tasks", execs)
	}
	for _, e := range execs {
		if e.State != "active" || e.Address == "" || e.Gossip == "" || e.Cores < 1 || e.Memory <= 0 {
			t.Errorf("executor %+v: want active, with addresses, cores and storage memory from its heartbeats", e)
		}
	}
	// Task metrics travel back from the executors.
	var stages []apiStage
	getJSON(t, base+"/api/v1/stages", &stages)
	if len(stages) != 1 || stages[0].Metrics.InputRecords != 1000 || stages[0].Metrics.OutputRecords != 1000 {
		t.Errorf("stages %+v: want one that read and counted 1000 records", stages)
	}
	var job apiJob
	done := make(chan error, 1)
	go func() {
		_, err := reduce.Run(context.Background(), s, 0)
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	getJSON(t, base+"/api/v1/jobs/2", &job)
	checkStages(t, base, job, 2)

	// An unpersisted RDD leaves the storage list.
	if _, err := cachedThenDropped.Run(context.Background(), s, 100); err != nil {
		t.Fatal(err)
	}
	var after []struct {
		RDD int `json:"rddId"`
	}
	getJSON(t, base+"/api/v1/storage", &after)
	if len(after) != 1 {
		t.Errorf("storage %+v after an RDD was cached and unpersisted, want only the first one", after)
	}
	// Its blocks were cached on the executors, though: the second count
	// read them, which counts their bytes as input (a deferred Unpersist
	// must not undo caching on an executor as its rebuild of a job
	// unwinds).
	var all []apiStage
	getJSON(t, base+"/api/v1/stages", &all)
	if m := all[len(all)-1].Metrics; m.InputRecords != 100 || m.InputBytes < 800 {
		t.Errorf("the second count read %d records, %d bytes: want 100 cached records, 800 bytes or more", m.InputRecords, m.InputBytes)
	}
	var cached []struct {
		Partitions int      `json:"partitions"`
		Memory     int64    `json:"memoryBytes"`
		Executors  []string `json:"executors"`
	}
	getJSON(t, base+"/api/v1/storage", &cached)
	// 1000 int64 in 4 partitions: 8000 bytes of Arrow buffers at least.
	if len(cached) != 1 || cached[0].Partitions != 4 || len(cached[0].Executors) == 0 || cached[0].Memory < 8000 {
		t.Errorf("storage %+v, want one RDD of 4 cached partitions, with their sizes", cached)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Take counts as output only what it keeps; a sort's sample stage says
// what it is.
func TestStatusCountsTakeAndSample(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	base := "http://" + s.UIAddr()
	ctx := context.Background()
	if _, err := rdd.Range(s, 0, 100000, 4).Take(ctx, 5); err != nil {
		t.Fatal(err)
	}
	var job apiJob
	getJSON(t, base+"/api/v1/jobs/1", &job)
	var st apiStage
	getJSON(t, base+"/api/v1/stages/"+itoa(job.Stages[0]), &st)
	if st.Metrics.OutputRecords != 5 || st.Metrics.InputRecords < 5 {
		t.Errorf("Take(5): stage metrics %+v, want 5 records out", st.Metrics)
	}
	if _, err := rdd.SortBy(rdd.Range(s, 0, 1000, 4), func(v int64) int64 { return -v }, true, 2).Collect(ctx); err != nil {
		t.Fatal(err)
	}
	var stages []struct {
		Kind string `json:"kind"`
	}
	getJSON(t, base+"/api/v1/stages", &stages)
	kinds := map[string]int{}
	for _, st := range stages {
		kinds[st.Kind]++
	}
	if kinds["sample"] != 1 || kinds["map"] != 1 || kinds["result"] != 2 {
		t.Errorf("stage kinds %v, want Take's result stage and the sort's sample, map and result stages", kinds)
	}
}

// A status server beyond loopback answers only with the session's token.
func TestStatusTokenBeyondLoopback(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"), rdd.WithConf("ui.bind", "0.0.0.0"))
	token := s.UIToken()
	if len(token) != 32 {
		t.Fatalf("token %q, want 32 hex digits", token)
	}
	_, port, _ := net.SplitHostPort(s.UIAddr())
	url := "http://127.0.0.1:" + port + "/api/v1/jobs"
	authtest.RequiresBearer(t, url, token)
	if loop := newSession(t, rdd.WithMaster("local[1]")); loop.UIToken() != "" {
		t.Errorf("a loopback status server asks for a token")
	}
}
