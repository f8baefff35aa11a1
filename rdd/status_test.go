package rdd_test

import (
	"context"
	"encoding/json"
	"io"
	"iter"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ember-go/ember/rdd"
	"github.com/prometheus/common/expfmt"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v: %s", url, err, body)
	}
	return resp.StatusCode
}

type apiJob struct {
	ID     int    `json:"id"`
	Action string `json:"action"`
	Status string `json:"status"`
	Stages []int  `json:"stages"`
}

type apiStage struct {
	ID        int    `json:"id"`
	JobID     int    `json:"jobId"`
	Status    string `json:"status"`
	Tasks     int    `json:"tasks"`
	Completed int    `json:"completed"`
	Running   int    `json:"running"`
}

// The status API during and after a job, and the metrics.
func TestStatusAPI(t *testing.T) {
	s := newSession(t, rdd.WithMaster("local[2]"))
	base := "http://" + s.UIAddr()
	slow := rdd.MapPartitions(rdd.Range(s, 0, 100, 4), func(_ int, in iter.Seq[int64]) iter.Seq[rdd.Pair[int64, int64]] {
		time.Sleep(300 * time.Millisecond)
		return func(yield func(rdd.Pair[int64, int64]) bool) {
			for i := range in {
				if !yield(rdd.Pair[int64, int64]{Key: i % 3, Value: i}) {
					return
				}
			}
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := rdd.ReduceByKey(slow, func(a, b int64) int64 { return a + b }, 2).Collect(context.Background())
		done <- err
	}()

	// During the job.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var jobs []apiJob
		getJSON(t, base+"/api/v1/jobs", &jobs)
		var stages []apiStage
		getJSON(t, base+"/api/v1/stages", &stages)
		if len(jobs) == 1 && jobs[0].Status == "running" && len(stages) > 0 && stages[0].Status == "running" && stages[0].Running > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running job and stage seen: %+v %+v", jobs, stages)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// After it.
	var job apiJob
	if code := getJSON(t, base+"/api/v1/jobs/1", &job); code != 200 || job.Status != "succeeded" || job.Action != "Collect" || len(job.Stages) != 2 {
		t.Errorf("the finished job: %d %+v", code, job)
	}
	for _, id := range job.Stages {
		var st apiStage
		getJSON(t, base+"/api/v1/stages/"+itoa(id), &st)
		if st.Status != "succeeded" || st.JobID != 1 || st.Completed != st.Tasks || st.Tasks == 0 || st.Running != 0 {
			t.Errorf("stage %d: %+v", id, st)
		}
	}

	// Unknown ids and pages: 404 with a message.
	for _, path := range []string{"/api/v1/jobs/999", "/api/v1/jobs/abc", "/api/v1/stages/7777", "/nosuch"} {
		var e struct{ Error string }
		if code := getJSON(t, base+path, &e); code != http.StatusNotFound || e.Error == "" {
			t.Errorf("%s: %d %q, want 404 with a message", path, code, e.Error)
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
}

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
		Finished int    `json:"finishedTasks"`
	}
	getJSON(t, base+"/api/v1/executors", &execs)
	finished := 0
	for _, e := range execs {
		finished += e.Finished
	}
	if len(execs) != 2 || finished != 4 {
		t.Errorf("executors %+v, want 2 that finished 4 tasks", execs)
	}
	var cached []struct {
		Partitions int      `json:"partitions"`
		Executors  []string `json:"executors"`
	}
	getJSON(t, base+"/api/v1/storage", &cached)
	if len(cached) != 1 || cached[0].Partitions != 4 || len(cached[0].Executors) == 0 {
		t.Errorf("storage %+v, want one RDD of 4 cached partitions", cached)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
