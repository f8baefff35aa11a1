package status

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// run feeds a store the events of a stage that ran tasks to the end, with
// the outcome of each partition.
func run(s *Store, stage, job int, name string, shuffle int, reads []int, outcomes ...error) {
	kind := ResultStage
	if shuffle != 0 {
		kind = MapStage
	}
	s.StageStarted(StageStart{ID: stage, JobID: job, Name: name, Kind: kind, Tasks: len(outcomes),
		ShuffleID: shuffle, Reads: reads, RDDs: []RDD{{ID: stage * 10, Name: name, Shuffles: reads}}})
	for p, err := range outcomes {
		task := TaskAttempt{Partition: p, Attempt: 1, Executor: "exec-" + strconv.Itoa(p%2), Launched: time.Now()}
		s.TaskStarted(stage, task)
		task.Duration = time.Millisecond
		task.Metrics = TaskMetrics{InputRecords: 10, ShuffleWriteRecords: 3, ShuffleWriteBytes: 100}
		s.TaskEnded(stage, task, err)
	}
	var err error
	for _, e := range outcomes {
		err = errors.Join(err, e)
	}
	s.StageEnded(stage, err)
}

func TestStoreCountsTasksAndMetrics(t *testing.T) {
	s := NewStore(0, Live{})
	s.JobStarted(1, "Count", "Map [1] at x.go:1")
	run(s, 1, 1, "Map [1] at x.go:1", 0, nil, nil, errors.New("boom"), nil)
	st, _ := s.Stage(1)
	if st.Tasks != 3 || st.Completed != 2 || st.Failed != 1 || st.Running != 0 || st.Status != "failed" {
		t.Errorf("stage %+v", st)
	}
	// Only finished attempts count.
	if st.Metrics.InputRecords != 20 || st.Metrics.ShuffleWriteBytes != 200 {
		t.Errorf("stage metrics %+v, want those of the 2 finished tasks", st.Metrics)
	}
	tasks, _ := s.Tasks(1)
	if len(tasks) != 3 || tasks[1].Status != "failed" || tasks[1].Error != "boom" || tasks[0].Status != "succeeded" || tasks[0].Duration != 1 {
		t.Errorf("tasks %+v", tasks)
	}
	execs := s.Executors() // none live: only lost ones would show
	if len(execs) != 0 {
		t.Errorf("executors %+v, want none (nothing live, nothing lost)", execs)
	}
}

// A stage that runs again (its input was lost) keeps one record: its
// attempts and tasks add up.
func TestStoreStageRunsAgain(t *testing.T) {
	s := NewStore(0, Live{})
	s.JobStarted(1, "Collect", "x")
	run(s, 4, 1, "Map [4] at x.go:4", 0, nil, nil, nil)
	run(s, 4, 1, "Map [4] at x.go:4", 0, nil, nil)
	st, _ := s.Stage(4)
	tasks, _ := s.Tasks(4)
	if st.Attempts != 2 || st.Tasks != 3 || st.Completed != 3 || len(tasks) != 3 || st.Status != "succeeded" {
		t.Errorf("stage %+v with %d tasks", st, len(tasks))
	}
	if j, _ := s.Job(1); len(j.Stages) != 1 {
		t.Errorf("job stages %v, want [4] once", j.Stages)
	}
}

// Old finished jobs go with their stages; running ones stay.
func TestStoreForgetsOldJobs(t *testing.T) {
	s := NewStore(2, Live{})
	s.JobStarted(1, "Count", "x") // runs throughout
	run(s, 1, 1, "a", 0, nil, nil)
	for job := 2; job <= 4; job++ {
		s.JobStarted(job, "Count", "x")
		run(s, job, job, "a", 0, nil, nil)
		s.JobEnded(job, nil)
	}
	var ids []int
	for _, j := range s.Jobs() {
		ids = append(ids, j.ID)
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 4 {
		t.Errorf("jobs %v, want the running 1 and the newest 4", ids)
	}
	if _, ok := s.Stage(2); ok {
		t.Error("the stage of forgotten job 2 is still there")
	}
	if _, ok := s.Stage(1); !ok {
		t.Error("the stage of running job 1 is gone")
	}
}

// Every page renders, with data, and the job's graph draws its stages:
// two map stages feeding a result stage, one of them run by an earlier
// job and so skipped by this one.
func TestPages(t *testing.T) {
	s := NewStore(0, Live{
		Executors: func() []Executor {
			return []Executor{{Name: "exec-0", State: "active", Address: "10.0.0.1:7077", Cores: 2, MemoryUsed: 1 << 20, MemoryLimit: 1 << 30}}
		},
		Storage: func() []CachedRDD {
			return []CachedRDD{{RDD: 10, Partitions: 2, MemBytes: 4096}, {RDD: 20, Partitions: 1, DiskBytes: 3 << 20, Executors: []string{"exec-0"}}}
		},
	})
	s.JobStarted(1, "Count", "Map [10] at x.go:1")
	run(s, 1, 1, "Map [10] at x.go:1", 7, nil, nil, nil)
	s.JobEnded(1, nil)
	s.JobStarted(2, "Collect", "Join [30] at x.go:3")
	run(s, 2, 2, "Map [20] at x.go:2", 8, nil, nil, nil)
	s.StageStarted(StageStart{ID: 3, JobID: 2, Name: "Join [30] at x.go:3", Tasks: 2, Reads: []int{7, 8},
		RDDs: []RDD{{ID: 29, Name: "Cogroup [29] at x.go:3", Shuffles: []int{7, 8}}, {ID: 30, Name: "Join [30] at x.go:3", Parents: []int{29}, Cached: true}}})
	s.TaskStarted(3, TaskAttempt{Partition: 0, Attempt: 1, Executor: "exec-0", Launched: time.Now()})
	s.ExecutorLost("exec-1", "10.0.0.2:7077")

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for path, want := range map[string][]string{
		"/jobs/":      {`data-job="1"`, `data-job="2"`, "Collect", `data-live="true"`},
		"/jobs/2":     {`data-stage="1" data-status="skipped"`, `data-stage="2" data-status="succeeded"`, `data-stage="3" data-status="running"`, `class="shuffle"`, "Cogroup [29]", `class="rdd cached" data-rdd="30"`},
		"/stages/":    {`data-stage="3"`, "Join [30]"},
		"/stages/3":   {`data-partition="0" data-status="running"`, `href="/stages/1"`, `href="/stages/2"`, "exec-0"},
		"/executors/": {`data-executor="exec-0"`, "10.0.0.1:7077", "1.0 MiB of 1.0 GiB", `data-executor="exec-1"`, "lost", "<small>at "},
		"/storage/":   {`data-rdd="10"`, "Map [10] at x.go:1", "4.0 KiB", `data-rdd="20"`, "3.0 MiB", "exec-0"},
	} {
		code, body := get(path)
		if code != http.StatusOK {
			t.Errorf("%s: %d\n%s", path, code, body)
			continue
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	// The result stage is drawn right of both map stages.
	_, body := get("/jobs/2")
	x := map[string]int{}
	for _, m := range regexp.MustCompile(`data-stage="(\d+)"[^>]*><rect class="cluster" x="(\d+)"`).FindAllStringSubmatch(body, -1) {
		x[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(x) != 3 || x["3"] <= x["1"] || x["3"] <= x["2"] {
		t.Errorf("stage boxes at x %v: want stage 3 right of 1 and 2", x)
	}
	if n := strings.Count(body, `class="shuffle"`); n != 2 {
		t.Errorf("%d shuffle arrows, want 2", n)
	}
	for _, path := range []string{"/jobs/9", "/jobs/x", "/stages/9", "/nope"} {
		if code, body := get(path); code != http.StatusNotFound || !strings.Contains(body, "There is no") {
			t.Errorf("%s: %d, want a 404 page", path, code)
		}
	}
}

// A stage of many tasks keeps the records of the last MaxTaskRecords
// finished ones, and counts them all; long errors are cut.
func TestStoreBoundsTaskRecords(t *testing.T) {
	s := NewStore(0, Live{})
	s.JobStarted(1, "Count", "x")
	outcomes := make([]error, 2*MaxTaskRecords+100)
	outcomes[len(outcomes)-1] = errors.New(strings.Repeat("stack frame\n", 10000))
	run(s, 1, 1, "Map [1] at x.go:1", 0, nil, outcomes...)
	st, _ := s.Stage(1)
	tasks, _ := s.Tasks(1)
	if st.Completed+st.Failed != len(outcomes) || len(tasks)+st.TasksForgotten != len(outcomes) || len(tasks) > 2*MaxTaskRecords || len(tasks) < MaxTaskRecords {
		t.Errorf("%d tasks run, %d completed, %d failed, %d records kept, %d forgotten", len(outcomes), st.Completed, st.Failed, len(tasks), st.TasksForgotten)
	}
	last := tasks[len(tasks)-1]
	if last.Partition != len(outcomes)-1 || len(last.Error) > maxErrorText+20 || !strings.HasSuffix(last.Error, "(cut)") {
		t.Errorf("last task: partition %d, error of %d bytes", last.Partition, len(last.Error))
	}
	if len(st.Error) > maxErrorText+20 {
		t.Errorf("stage error of %d bytes", len(st.Error))
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{
		"Map [3]":                         "Map [3]",
		"ReduceByKey [18927438528512345]": "ReduceByKey […12345]",
		"Union":                           "Union",
	} {
		if got := shortID(in); got != want {
			t.Errorf("shortID(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct{ s, suffix, want string }{
		{"x.go", ":12", "x.go:12"},
		{"a_rather_long_pipeline_source_file.go", ":123", "a_rather_long_pipeline…:123"},
	} {
		if got := shorten(c.s, c.suffix); got != c.want || len([]rune(got)) > maxNameChars {
			t.Errorf("shorten(%q, %q) = %q, want %q", c.s, c.suffix, got, c.want)
		}
	}
}

// The lists show the newest rows; the API has them all.
func TestListsShowTheNewest(t *testing.T) {
	s := NewStore(0, Live{})
	for id := 1; id <= listRows+50; id++ {
		s.JobStarted(id, "Count", "x")
		s.JobEnded(id, nil)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/jobs/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if n := strings.Count(page, "<tr data-job="); n != listRows || !strings.Contains(page, "50 older jobs") || !strings.Contains(page, fmt.Sprintf(`data-job="%d"`, listRows+50)) || strings.Contains(page, `data-job="50"`) {
		t.Errorf("/jobs/ shows %d rows, want the newest %d and a note of the 50 older", n, listRows)
	}
	if jobs := s.Jobs(); len(jobs) != listRows+50 {
		t.Errorf("the store has %d jobs, want %d", len(jobs), listRows+50)
	}
}
