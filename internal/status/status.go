// Package status keeps what a driver knows of its jobs, stages, tasks and
// executors while they run, and serves it: web pages, a JSON API under
// /api/v1 and Prometheus metrics under /metrics.
//
// It is told what happens through the Store's methods, in its own types:
// it knows nothing of the scheduler or the executors that it reports on,
// so that it sits below them.
package status

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ember-go/ember/internal/membership"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Job is a job as the API shows it.
type Job struct {
	ID        int        `json:"id"`
	Action    string     `json:"action"` // "Collect", "Count", …
	RDD       string     `json:"rdd"`    // the final RDD, with its creation site
	Status    string     `json:"status"` // "running", "succeeded" or "failed"
	Submitted time.Time  `json:"submitted"`
	Completed *time.Time `json:"completed,omitempty"`
	Stages    []int      `json:"stages"` // that ran for it, in the order they started
	Error     string     `json:"error,omitempty"`
	// Summed over its stages when read: tasks to run and completed, and
	// stages that succeeded.
	Tasks           int `json:"tasks"`
	CompletedTasks  int `json:"completedTasks"`
	CompletedStages int `json:"completedStages"`
}

// Stage is a stage as the API shows it.
type Stage struct {
	ID        int        `json:"id"`
	JobID     int        `json:"jobId"`
	Name      string     `json:"name"`   // its last RDD, with its creation site
	Kind      StageKind  `json:"kind"`   // what its tasks compute
	Status    string     `json:"status"` // "running", "succeeded" or "failed"
	Attempts  int        `json:"attempts"`
	Tasks     int        `json:"tasks"`   // to run, added over the attempts of the stage
	Running   int        `json:"running"` // set when read: len(running)
	Completed int        `json:"completed"`
	Failed    int        `json:"failed"` // task attempts
	Submitted time.Time  `json:"submitted"`
	Finished  *time.Time `json:"finished,omitempty"`
	Error     string     `json:"error,omitempty"`
	// ShuffleID is the shuffle a map stage writes (0 for a result
	// stage); ParentStages are the stages that wrote the shuffles it
	// reads, perhaps for an earlier job.
	ShuffleID    int   `json:"shuffleId,omitempty"`
	ParentStages []int `json:"parentStages"`
	// RDDs are the RDDs the stage computes, parents first.
	RDDs []RDD `json:"rdds"`
	// Metrics sums the metrics of the stage's finished task attempts.
	Metrics TaskMetrics `json:"metrics"`
	// TasksForgotten counts the finished task attempts whose records
	// were dropped: a stage keeps the last MaxTaskRecords.
	TasksForgotten int `json:"tasksForgotten,omitempty"`

	tasks   []*Task
	running map[[2]int]*Task // by partition and attempt
}

// RDD is an RDD of a stage.
type RDD struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`               // operation, id and creation site
	Parents  []int  `json:"parents,omitempty"`  // RDDs of the same stage it reads
	Shuffles []int  `json:"shuffles,omitempty"` // shuffles it reads
	Cached   bool   `json:"cached,omitempty"`   // persisted
}

// Task is a task attempt as the API shows it.
type Task struct {
	StageID   int         `json:"stageId"`
	Partition int         `json:"partition"`
	Attempt   int         `json:"attempt"`
	Executor  string      `json:"executor"` // "driver" in local mode
	Status    string      `json:"status"`   // "running", "succeeded" or "failed"
	Launched  time.Time   `json:"launched"`
	Duration  float64     `json:"durationMs"` // so far, while it runs
	Metrics   TaskMetrics `json:"metrics"`
	Error     string      `json:"error,omitempty"`
}

// Executor is an executor as the API shows it.
type Executor struct {
	Name string `json:"name"`
	// Address is its RPC address; Gossip, its membership address.
	Address string `json:"address,omitempty"`
	Gossip  string `json:"gossip,omitempty"`
	// State is "active" (connected, running tasks), "joined" (a live
	// member not connected yet), "unusable" (refused, see Reason) or
	// "lost".
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Cores    int    `json:"cores"`
	Running  int    `json:"runningTasks"`
	Finished int    `json:"finishedTasks"`
	Failed   int    `json:"failedTasks"`
	// Storage of cached blocks: memory used and its limit, and disk.
	MemoryUsed  int64 `json:"memoryUsed"`
	MemoryLimit int64 `json:"memoryLimit"`
	DiskUsed    int64 `json:"diskUsed"`
	// The memory budget that cached blocks and the execution memory of
	// running tasks share, and what the tasks hold.
	MemoryBudget  int64      `json:"memoryBudget"`
	ExecutionUsed int64      `json:"executionMemoryUsed"`
	Lost          *time.Time `json:"lost,omitempty"`
}

// CachedRDD is a persisted RDD as the storage API shows it.
type CachedRDD struct {
	RDD        int      `json:"rddId"`
	Name       string   `json:"name,omitempty"`
	Partitions int      `json:"partitions"` // cached
	MemBytes   int64    `json:"memoryBytes"`
	DiskBytes  int64    `json:"diskBytes"`
	Executors  []string `json:"executors,omitempty"`
}

// TaskMetrics counts what a task attempt read and wrote, or the attempts
// of a stage: records and bytes of its input (sources, cached blocks), of
// its output (results, saved files), and of the shuffles it read and
// wrote.
type TaskMetrics struct {
	InputRecords        int64 `json:"inputRecords"`
	InputBytes          int64 `json:"inputBytes"`
	OutputRecords       int64 `json:"outputRecords"`
	OutputBytes         int64 `json:"outputBytes"`
	ShuffleReadRecords  int64 `json:"shuffleReadRecords"`
	ShuffleReadBytes    int64 `json:"shuffleReadBytes"`
	ShuffleWriteRecords int64 `json:"shuffleWriteRecords"`
	ShuffleWriteBytes   int64 `json:"shuffleWriteBytes"`
	MemoryBytesSpilled  int64 `json:"memoryBytesSpilled"`
	DiskBytesSpilled    int64 `json:"diskBytesSpilled"`
	PeakExecutionMemory int64 `json:"peakExecutionMemory"`
}

// StageKind says what the tasks of a stage compute.
type StageKind string

// The kinds of stage.
const (
	// ResultStage computes partitions of a job's final RDD.
	ResultStage StageKind = "result"
	// MapStage writes a shuffle.
	MapStage StageKind = "map"
	// SampleStage samples the keys of a shuffle's parent, for a range
	// partitioner.
	SampleStage StageKind = "sample"
)

// StageStart describes a stage as it starts, for Store.StageStarted.
type StageStart struct {
	ID int
	// JobID is the job that runs the stage; 0 means the job that started
	// last.
	JobID int
	Name  string // its last RDD, with its creation site
	Kind  StageKind
	Tasks int // to run in this attempt
	// RDDs are the RDDs the stage computes, parents first.
	RDDs []RDD
	// ShuffleID is the shuffle the stage writes, 0 for a result stage;
	// Reads are the shuffles it reads.
	ShuffleID int
	Reads     []int
}

// TaskAttempt describes a task attempt as it starts or ends, for
// Store.TaskStarted and Store.TaskEnded.
type TaskAttempt struct {
	Partition, Attempt int
	Executor           string    // "driver" in local mode
	Launched           time.Time // zero if it never got a slot
	// Duration and Metrics are known when it ends.
	Duration time.Duration
	Metrics  TaskMetrics
}

// Live is what the store asks its session for at every request, as it
// changes without events.
type Live struct {
	// Executors describes the executors as the session knows them now:
	// state, addresses, cores, storage. The store adds task counts and
	// the executors that were lost.
	Executors func() []Executor
	// Storage describes the cached RDDs.
	Storage func() []CachedRDD
}

// Server is a running HTTP server.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// MaxTaskRecords is how many finished task attempts a stage keeps records
// of, besides its running ones; its counts and metrics cover them all.
const MaxTaskRecords = 10000

// maxErrorText bounds the error text kept of a task attempt (a panic's
// stack) and of a stage or job.
const maxErrorText = 8 << 10

// DefaultRetainedJobs is how many jobs a Store keeps, with their stages
// and tasks, when NewStore is given no other number.
const DefaultRetainedJobs = 1000

// Store records what the driver sees. Its methods are safe for concurrent
// use.
type Store struct {
	mu        sync.Mutex
	jobs      map[int]*Job
	order     []int // job ids, oldest first
	stages    map[int]*Stage
	writers   map[int]int // shuffle id → the stage that wrote it last
	executors map[string]*Executor
	current   int // the job whose stages are starting; see StageStart
	retained  int
	live      Live

	registry  *prometheus.Registry
	tasks     *prometheus.CounterVec
	duration  prometheus.Histogram
	jobsRun   *prometheus.CounterVec
	lost      prometheus.Counter
	bytes     *prometheus.CounterVec
	records   *prometheus.CounterVec
	liveCount prometheus.GaugeFunc
	// Counters resolved once: a task's end touches them all.
	succeeded, failed  prometheus.Counter
	recordsBy, bytesBy [4]prometheus.Counter // by ioKinds
	spilled            *prometheus.CounterVec
	spilledMemory      prometheus.Counter
	spilledDisk        prometheus.Counter
}

// ioKinds label ember_task_records_total and ember_task_bytes_total.
var ioKinds = [4]string{"input", "output", "shuffle_read", "shuffle_write"}

// NewStore returns an empty store that keeps the last retainedJobs jobs
// (DefaultRetainedJobs if it is not positive) and asks live for what
// changes without events.
func NewStore(retainedJobs int, live Live) *Store {
	if retainedJobs <= 0 {
		retainedJobs = DefaultRetainedJobs
	}
	if live.Executors == nil {
		live.Executors = func() []Executor { return nil }
	}
	if live.Storage == nil {
		live.Storage = func() []CachedRDD { return nil }
	}
	s := &Store{jobs: map[int]*Job{}, stages: map[int]*Stage{}, writers: map[int]int{}, executors: map[string]*Executor{},
		retained: retainedJobs, live: live, registry: prometheus.NewRegistry()}
	s.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_tasks_total", Help: "Task attempts that ended, by outcome."}, []string{"outcome"})
	s.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ember_task_duration_seconds", Help: "Durations of task attempts.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})
	s.jobsRun = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_jobs_total", Help: "Jobs that ended, by outcome."}, []string{"outcome"})
	s.liveCount = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_executors", Help: "Executors in use."}, func() float64 {
		n := 0
		for _, e := range live.Executors() {
			if e.State == "active" {
				n++
			}
		}
		return float64(n)
	})
	s.lost = prometheus.NewCounter(prometheus.CounterOpts{Name: "ember_executors_lost_total", Help: "Executors lost."})
	s.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_task_bytes_total",
		Help: "Bytes that finished task attempts read and wrote: input (sources, cached blocks), output (results, saved files), shuffle_read, shuffle_write."}, []string{"kind"})
	s.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_task_records_total",
		Help: "Records that finished task attempts read and wrote, by kind as ember_task_bytes_total."}, []string{"kind"})
	cached := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_cached_bytes", Help: "Bytes of cached partitions in memory, over all executors."}, func() float64 {
		var n int64
		for _, e := range live.Executors() {
			n += e.MemoryUsed
		}
		return float64(n)
	})
	s.spilled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_task_spilled_bytes_total",
		Help: "Bytes that finished task attempts spilled to disk, as they were in memory (memory, estimated) and as written (disk)."}, []string{"kind"})
	s.spilledMemory, s.spilledDisk = s.spilled.WithLabelValues("memory"), s.spilled.WithLabelValues("disk")
	execution := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_execution_memory_bytes", Help: "Execution memory that running tasks hold, over all executors."}, func() float64 {
		var n int64
		for _, e := range live.Executors() {
			n += e.ExecutionUsed
		}
		return float64(n)
	})
	s.succeeded, s.failed = s.tasks.WithLabelValues("succeeded"), s.tasks.WithLabelValues("failed")
	for i, kind := range ioKinds {
		s.recordsBy[i], s.bytesBy[i] = s.records.WithLabelValues(kind), s.bytes.WithLabelValues(kind)
	}
	s.registry.MustRegister(s.tasks, s.duration, s.jobsRun, s.liveCount, s.lost, s.bytes, s.records, cached, s.spilled, execution,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return s
}

// JobStarted records a job; its stages are those that start until
// JobEnded.
func (s *Store) JobStarted(id int, action, rdd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id] = &Job{ID: id, Action: action, RDD: rdd, Status: "running", Submitted: time.Now(), Stages: []int{}}
	s.order = append(s.order, id)
	s.current = id
	s.forgetOldLocked()
}

// JobEnded records how a job ended.
func (s *Store) JobEnded(id int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return
	}
	now := time.Now()
	j.Completed, j.Status = &now, "succeeded"
	if err != nil {
		j.Status, j.Error = "failed", errorText(err)
	}
	s.jobsRun.WithLabelValues(j.Status).Inc()
}

// StageStarted records a stage of job start.JobID, or of the job started
// last if that is 0 (then concurrent jobs' stages may be attributed to
// another). A stage that runs again keeps its record: its attempts and
// tasks add up.
func (s *Store) StageStarted(start StageStart) {
	s.mu.Lock()
	defer s.mu.Unlock()
	job := start.JobID
	if job == 0 {
		job = s.current
	}
	st := s.stages[start.ID]
	if st == nil {
		st = s.newStageLocked(start, job)
		s.stages[start.ID] = st
	}
	if start.ShuffleID != 0 {
		s.writers[start.ShuffleID] = start.ID
	}
	st.Attempts++
	st.Status, st.Finished, st.Error = "running", nil, ""
	st.Tasks += start.Tasks
	if j := s.jobs[job]; j != nil && !slices.Contains(j.Stages, start.ID) {
		j.Stages = append(j.Stages, start.ID)
	}
}

// TaskStarted records that a task attempt of stage started.
func (s *Store) TaskStarted(stage int, task TaskAttempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[stage]
	if st == nil {
		return
	}
	s.executor(task.Executor).Running++
	t := &Task{StageID: stage, Partition: task.Partition, Attempt: task.Attempt, Executor: task.Executor, Status: "running", Launched: task.Launched}
	st.addTask(t)
	st.running[[2]int{task.Partition, task.Attempt}] = t
}

// TaskEnded records how a task attempt of stage ended: it failed with err
// if that is not nil. An attempt that never started (cancelled while it
// waited for a slot) is not recorded.
func (s *Store) TaskEnded(stage int, task TaskAttempt, err error) {
	if task.Launched.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	outcome := "succeeded"
	s.duration.Observe(task.Duration.Seconds())
	e := s.executor(task.Executor)
	if err != nil {
		outcome = "failed"
		s.failed.Inc()
		e.Failed++
	} else {
		s.succeeded.Inc()
		e.Finished++
		s.countIOLocked(task.Metrics)
	}
	st := s.stages[stage]
	if st == nil {
		return
	}
	key := [2]int{task.Partition, task.Attempt}
	t := st.running[key]
	if t == nil {
		t = &Task{StageID: stage, Partition: task.Partition, Attempt: task.Attempt, Executor: task.Executor, Launched: task.Launched}
		st.addTask(t)
	} else {
		delete(st.running, key)
		e.Running = max(e.Running-1, 0)
	}
	t.Executor, t.Duration, t.Metrics, t.Status = task.Executor, float64(task.Duration)/float64(time.Millisecond), task.Metrics, outcome
	if err != nil {
		t.Error = errorText(err)
		st.Failed++
	} else {
		st.Completed++
		st.Metrics.add(task.Metrics)
	}
}

// StageEnded records how an attempt of stage ended: it failed with err if
// that is not nil.
func (s *Store) StageEnded(stage int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[stage]
	if st == nil {
		return
	}
	now := time.Now()
	st.Finished, st.Status = &now, "succeeded"
	if err != nil {
		st.Status, st.Error = "failed", errorText(err)
	}
}

// ExecutorLost records a lost executor.
func (s *Store) ExecutorLost(name, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost.Inc()
	e := s.executor(name)
	now := time.Now()
	e.Address, e.Lost = addr, &now
}

// Jobs returns the jobs, oldest first.
func (s *Store) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, id := range s.order {
		out = append(out, s.jobLocked(s.jobs[id]))
	}
	return out
}

// Job returns job id.
func (s *Store) Job(id int) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, false
	}
	return s.jobLocked(j), true
}

// Stages returns the stages, by id.
func (s *Store) Stages() []Stage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Stage, 0, len(s.stages))
	for _, st := range s.stages {
		out = append(out, st.copy())
	}
	slices.SortFunc(out, func(a, b Stage) int { return a.ID - b.ID })
	return out
}

// Stage returns stage id.
func (s *Store) Stage(id int) (Stage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stages[id]
	if !ok {
		return Stage{}, false
	}
	return st.copy(), true
}

// Tasks returns the task attempts of stage id, in the order they started;
// the durations of running ones are as of now.
func (s *Store) Tasks(id int) ([]Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stages[id]
	if !ok {
		return nil, false
	}
	out := make([]Task, len(st.tasks))
	now := time.Now()
	for i, t := range st.tasks {
		out[i] = *t
		if t.Status == "running" {
			out[i].Duration = float64(now.Sub(t.Launched)) / float64(time.Millisecond)
		}
	}
	return out, true
}

// Executors describes the executors: those the session knows now, with
// the tasks they ran, and those that were lost.
func (s *Store) Executors() []Executor {
	live := s.live.Executors()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	out := make([]Executor, 0, len(live)+len(s.executors))
	for _, e := range live {
		if rec := s.executors[e.Name]; rec != nil {
			e.Running, e.Finished, e.Failed = rec.Running, rec.Finished, rec.Failed
		}
		seen[e.Name] = true
		out = append(out, e)
	}
	for _, rec := range s.executors {
		if !seen[rec.Name] && rec.Lost != nil {
			e := *rec
			e.State = "lost"
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Executor) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Storage describes the cached RDDs, named after the stages that
// computed them.
func (s *Store) Storage() []CachedRDD {
	cached := s.live.Storage()
	s.mu.Lock()
	defer s.mu.Unlock()
	names := map[int]string{}
	for _, st := range s.stages {
		for _, r := range st.RDDs {
			names[r.ID] = r.Name
		}
	}
	for i := range cached {
		if cached[i].Name == "" {
			cached[i].Name = names[cached[i].RDD]
		}
	}
	return cached
}

// Handler serves the web UI, the JSON API under /api/v1 and the metrics
// under /metrics.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	serveAPI(mux, "jobs", s.Jobs, s.Job, "job")
	serveAPI(mux, "stages", s.Stages, s.Stage, "stage")
	mux.HandleFunc("GET /api/v1/stages/{id}/tasks", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r, "stage")
		if !ok {
			return
		}
		tasks, ok := s.Tasks(id)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no stage %d", id))
			return
		}
		writeJSON(w, tasks)
	})
	mux.HandleFunc("GET /api/v1/executors", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Executors()) })
	mux.HandleFunc("GET /api/v1/storage", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Storage()) })
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API %s: it has /api/v1/jobs, /api/v1/jobs/{id}, /api/v1/stages, /api/v1/stages/{id}, /api/v1/stages/{id}/tasks, /api/v1/executors and /api/v1/storage", r.URL.Path))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.serveUI(mux)
	return mux
}

// Serve listens on host:port, or the next free port up to port+16, or
// else any free port, and serves h until Close. Server.Addr says where.
// On a loopback host, h is served through HostGuard; on any other, with a
// token, through TokenGuard.
func Serve(host string, port int, h http.Handler, token string) (*Server, error) {
	var lis net.Listener
	var err error
	for p := port; p <= port+16 && port != 0; p++ {
		if lis, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
			break
		}
	}
	if lis == nil {
		if lis, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return nil, fmt.Errorf("status: listen on %s: %w", host, err)
		}
	}
	switch {
	case membership.Loopback(host):
		h = HostGuard(host, h)
	case token != "":
		h = TokenGuard(token, h)
	default:
		lis.Close()
		return nil, fmt.Errorf("status: %s is not loopback, and the server has no token to ask for", host)
	}
	srv := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: lis.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		srv.srv.Serve(lis)
	}()
	return srv, nil
}

// HostGuard serves h only to requests whose Host header names the server
// as its user reached it: an IP address, localhost, the machine's host
// name or bind (the host it was told to listen on). Any other name is
// refused with 421 Misdirected Request: a page of another site that makes
// its own name resolve to this machine (DNS rebinding) could otherwise
// read the status API from a browser here.
func HostGuard(bind string, h http.Handler) http.Handler {
	machine, _ := os.Hostname()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.Host
		if hn, _, err := net.SplitHostPort(r.Host); err == nil {
			name = hn
		}
		name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
		if net.ParseIP(name) == nil && !strings.EqualFold(name, "localhost") && !strings.EqualFold(name, bind) &&
			(machine == "" || !strings.EqualFold(name, machine)) {
			http.Error(w, fmt.Sprintf("ember: this status server does not answer to the host name %q: use its address or localhost", name), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TokenGuard serves h only to requests that carry token: as a bearer
// token (`Authorization: Bearer …`, as Prometheus sends it), in the cookie
// ember_ui_token, or in the query (`?token=…`), which a browser follows
// once: the answer sets the cookie (HttpOnly, SameSite=Strict) and sends
// it to the same page without the token in its address. Others get 401.
func TokenGuard(token string, h http.Handler) http.Handler {
	want := []byte(token)
	matches := func(got string) bool { return got != "" && subtle.ConstantTimeCompare([]byte(got), want) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && matches(bearer) {
			h.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && matches(c.Value) {
			h.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query(); matches(q.Get("token")) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del("token")
			u := url.URL{Path: "/" + strings.TrimLeft(r.URL.Path, "/"), RawQuery: q.Encode()}
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther) // never to another host (//evil.example)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="ember"`)
		http.Error(w, "ember: this status server listens beyond loopback and answers only with its token: open the address its log gives (…/?token=…), or send Authorization: Bearer <token>", http.StatusUnauthorized)
	})
}

const tokenCookie = "ember_ui_token"

// Addr is where the server listens.
func (s *Server) Addr() string { return s.addr }

// Close stops the server.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// forgetOldLocked drops the oldest ended jobs beyond the retained number,
// with their stages.
func (s *Store) forgetOldLocked() {
	for i := 0; len(s.jobs) > s.retained && i < len(s.order); {
		j := s.jobs[s.order[i]]
		if j.Status == "running" {
			i++
			continue
		}
		for _, id := range j.Stages {
			if st := s.stages[id]; st != nil && st.JobID == j.ID {
				delete(s.stages, id)
				if s.writers[st.ShuffleID] == id {
					delete(s.writers, st.ShuffleID)
				}
			}
		}
		delete(s.jobs, j.ID)
		s.order = slices.Delete(s.order, i, i+1)
	}
}

// newStageLocked returns the record of a stage of job that starts for the
// first time, with its parent stages: those that wrote the shuffles it
// reads last.
func (s *Store) newStageLocked(start StageStart, job int) *Stage {
	st := &Stage{ID: start.ID, JobID: job, Name: start.Name, Kind: start.Kind, Submitted: time.Now(), ShuffleID: start.ShuffleID,
		ParentStages: []int{}, RDDs: make([]RDD, len(start.RDDs)), running: map[[2]int]*Task{}}
	copy(st.RDDs, start.RDDs)
	for _, sh := range start.Reads {
		if w, ok := s.writers[sh]; ok && !slices.Contains(st.ParentStages, w) {
			st.ParentStages = append(st.ParentStages, w)
		}
	}
	return st
}

// countIOLocked adds the records and bytes of a finished task attempt to
// the metrics that count them by kind.
func (s *Store) countIOLocked(m TaskMetrics) {
	for i, v := range [4][2]int64{{m.InputRecords, m.InputBytes}, {m.OutputRecords, m.OutputBytes},
		{m.ShuffleReadRecords, m.ShuffleReadBytes}, {m.ShuffleWriteRecords, m.ShuffleWriteBytes}} {
		// A counter cannot go down (it panics): a negative figure, from a
		// damaged input's metadata or a hostile executor, is not counted.
		if v[0] > 0 {
			s.recordsBy[i].Add(float64(v[0]))
		}
		if v[1] > 0 {
			s.bytesBy[i].Add(float64(v[1]))
		}
	}
	s.spilledMemory.Add(float64(max(m.MemoryBytesSpilled, 0)))
	s.spilledDisk.Add(float64(max(m.DiskBytesSpilled, 0)))
}

// executor returns the record of the executor named name, made if need
// be.
func (s *Store) executor(name string) *Executor {
	e := s.executors[name]
	if e == nil {
		e = &Executor{Name: name}
		s.executors[name] = e
	}
	return e
}

// jobLocked returns a copy of j with its task and stage counts.
func (s *Store) jobLocked(j *Job) Job {
	c := *j
	c.Stages = slices.Clone(j.Stages)
	for _, id := range j.Stages {
		if st := s.stages[id]; st != nil {
			c.Tasks += st.Tasks
			c.CompletedTasks += st.Completed
			if st.Status == "succeeded" {
				c.CompletedStages++
			}
		}
	}
	return c
}

// addTask appends a task record. Past twice MaxTaskRecords, the oldest
// finished records go (at once, so that appends stay cheap).
func (st *Stage) addTask(t *Task) {
	st.tasks = append(st.tasks, t)
	if len(st.tasks) < 2*MaxTaskRecords {
		return
	}
	finished := len(st.tasks) - len(st.running)
	drop := finished - MaxTaskRecords
	kept := st.tasks[:0]
	for _, t := range st.tasks {
		if drop > 0 && t.Status != "running" {
			drop--
			st.TasksForgotten++
			continue
		}
		kept = append(kept, t)
	}
	clear(st.tasks[len(kept):])
	st.tasks = kept
}

// copy returns a copy of st that shares nothing mutable with it.
func (st *Stage) copy() Stage {
	c := *st
	c.ParentStages = slices.Clone(st.ParentStages)
	c.Running = len(st.running)
	c.tasks, c.running = nil, nil
	return c
}

// add adds o to m.
func (m *TaskMetrics) add(o TaskMetrics) {
	m.InputRecords += o.InputRecords
	m.InputBytes += o.InputBytes
	m.OutputRecords += o.OutputRecords
	m.OutputBytes += o.OutputBytes
	m.ShuffleReadRecords += o.ShuffleReadRecords
	m.ShuffleReadBytes += o.ShuffleReadBytes
	m.ShuffleWriteRecords += o.ShuffleWriteRecords
	m.ShuffleWriteBytes += o.ShuffleWriteBytes
	m.MemoryBytesSpilled += o.MemoryBytesSpilled
	m.DiskBytesSpilled += o.DiskBytesSpilled
	m.PeakExecutionMemory = max(m.PeakExecutionMemory, o.PeakExecutionMemory)
}

// errorText is err's text, cut to maxErrorText bytes.
func errorText(err error) string {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "") + "\n… (cut)"
	}
	return msg
}

// serveAPI serves /api/v1/name, every record, and /api/v1/name/{id},
// one of them.
func serveAPI[T any](mux *http.ServeMux, name string, all func() []T, one func(int) (T, bool), what string) {
	mux.HandleFunc("GET /api/v1/"+name, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, all()) })
	mux.HandleFunc("GET /api/v1/"+name+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r, what)
		if !ok {
			return
		}
		v, ok := one(id)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no %s %d", what, id))
			return
		}
		writeJSON(w, v)
	})
}

// pathID reads the {id} of the request's path, answering 404 if it is not
// an integer.
func pathID(w http.ResponseWriter, r *http.Request, what string) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s %q: ids are integers", what, r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
