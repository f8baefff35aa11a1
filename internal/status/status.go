// Package status keeps what a driver knows of its jobs, stages, tasks and
// executors while they run, and serves it: a JSON API under /api/v1 and
// Prometheus metrics under /metrics.
package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	Stages    []int      `json:"stages"`
	Error     string     `json:"error,omitempty"`
}

// Stage is a stage as the API shows it.
type Stage struct {
	ID        int        `json:"id"`
	JobID     int        `json:"jobId"`
	Name      string     `json:"name"` // its last RDD, with its creation site
	Status    string     `json:"status"`
	Tasks     int        `json:"tasks"`
	Running   int        `json:"running"`
	Completed int        `json:"completed"`
	Failed    int        `json:"failed"` // attempts
	Submitted time.Time  `json:"submitted"`
	Finished  *time.Time `json:"finished,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Executor is an executor as the API shows it.
type Executor struct {
	Name     string `json:"name"`
	Finished int    `json:"finishedTasks"`
	Failed   int    `json:"failedTasks"`
}

// Store records what the driver sees. Its methods are safe for concurrent
// use.
type Store struct {
	mu        sync.Mutex
	jobs      map[int]*Job
	stages    map[int]*Stage
	executors map[string]*Executor
	current   int // the job whose stages are starting; see StageStarted

	registry *prometheus.Registry
	tasks    *prometheus.CounterVec
	duration prometheus.Histogram
	jobsRun  *prometheus.CounterVec
	live     prometheus.GaugeFunc
	lost     prometheus.Counter
}

// NewStore returns an empty store whose metrics report live executors
// through liveExecutors.
func NewStore(liveExecutors func() int) *Store {
	s := &Store{jobs: map[int]*Job{}, stages: map[int]*Stage{}, executors: map[string]*Executor{}, registry: prometheus.NewRegistry()}
	s.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_tasks_total", Help: "Task attempts that ended, by outcome."}, []string{"outcome"})
	s.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ember_task_duration_seconds", Help: "Durations of task attempts on cluster executors.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})
	s.jobsRun = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_jobs_total", Help: "Jobs that ended, by outcome."}, []string{"outcome"})
	s.live = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ember_executors", Help: "Executors in use."}, func() float64 { return float64(liveExecutors()) })
	s.lost = prometheus.NewCounter(prometheus.CounterOpts{Name: "ember_executors_lost_total", Help: "Executors lost."})
	s.registry.MustRegister(s.tasks, s.duration, s.jobsRun, s.live, s.lost,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return s
}

// Registry is the store's metrics registry, to add more.
func (s *Store) Registry() *prometheus.Registry { return s.registry }

// JobStarted records a job; its stages are those that start until
// JobEnded.
func (s *Store) JobStarted(id int, action, rdd string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id] = &Job{ID: id, Action: action, RDD: rdd, Status: "running", Submitted: time.Now(), Stages: []int{}}
	s.current = id
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
		j.Status, j.Error = "failed", err.Error()
	}
	s.jobsRun.WithLabelValues(j.Status).Inc()
}

// StageStarted records a stage, of job (or of the job started last if
// job is 0: concurrent jobs' stages may then be attributed to another).
func (s *Store) StageStarted(id, job int, name string, tasks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if job == 0 {
		job = s.current
	}
	s.stages[id] = &Stage{ID: id, JobID: job, Name: name, Status: "running", Tasks: tasks, Submitted: time.Now()}
	if j := s.jobs[job]; j != nil && !slices.Contains(j.Stages, id) {
		j.Stages = append(j.Stages, id)
	}
}

// TaskStarted records that a task of the stage got a slot.
func (s *Store) TaskStarted(stage int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stages[stage]; st != nil {
		st.Running++
	}
}

// TaskEnded records the end of a task attempt of the stage.
func (s *Store) TaskEnded(stage int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	outcome := "succeeded"
	if err != nil {
		outcome = "failed"
	}
	s.tasks.WithLabelValues(outcome).Inc()
	st := s.stages[stage]
	if st == nil {
		return
	}
	st.Running = max(st.Running-1, 0)
	if err != nil {
		st.Failed++
	} else {
		st.Completed++
	}
}

// StageEnded records how a stage ended.
func (s *Store) StageEnded(id int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[id]
	if st == nil {
		return
	}
	now := time.Now()
	st.Finished, st.Status, st.Running = &now, "succeeded", 0
	if err != nil {
		st.Status, st.Error = "failed", err.Error()
	}
}

// ExecutorTask records a task attempt that ran on a cluster executor.
func (s *Store) ExecutorTask(executor string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.executors[executor]
	if e == nil {
		e = &Executor{Name: executor}
		s.executors[executor] = e
	}
	if err != nil {
		e.Failed++
	} else {
		e.Finished++
	}
	s.duration.Observe(d.Seconds())
}

// ExecutorLost counts a lost executor.
func (s *Store) ExecutorLost() { s.lost.Inc() }

// Handler serves the JSON API and the metrics; storage describes the
// cached RDDs for /api/v1/storage.
func (s *Store) Handler(storage func() any) http.Handler {
	mux := http.NewServeMux()
	serveRecords(mux, &s.mu, "jobs", "job", s.jobs, func(j *Job) int { return j.ID })
	serveRecords(mux, &s.mu, "stages", "stage", s.stages, func(st *Stage) int { return st.ID })
	mux.HandleFunc("GET /api/v1/executors", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		execs := make([]*Executor, 0, len(s.executors))
		for _, e := range s.executors {
			execs = append(execs, e)
		}
		slices.SortFunc(execs, func(a, b *Executor) int { return strings.Compare(a.Name, b.Name) })
		writeJSON(w, execs)
	})
	mux.HandleFunc("GET /api/v1/storage", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, storage()) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no page %s: the API is under /api/v1 (jobs, stages, executors, storage), the metrics at /metrics", r.URL.Path))
	})
	return mux
}

// Serve listens on host:port, or the next free port up to port+16, or
// else any free port, and serves h until Close. Server.Addr says where.
func Serve(host string, port int, h http.Handler) (*Server, error) {
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
	srv := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: lis.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		srv.srv.Serve(lis)
	}()
	return srv, nil
}

// Server is a running HTTP server.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

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

// serveRecords serves /api/v1/name, the records of m by id, and
// /api/v1/name/{id}, one of them, holding mu.
func serveRecords[T any](mux *http.ServeMux, mu *sync.Mutex, name, what string, m map[int]*T, id func(*T) int) {
	mux.HandleFunc("GET /api/v1/"+name, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, sorted(m, id))
	})
	mux.HandleFunc("GET /api/v1/"+name+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := lookup(w, r, m, what); ok {
			writeJSON(w, v)
		}
	})
}

func lookup[T any](w http.ResponseWriter, r *http.Request, m map[int]*T, what string) (*T, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s %q: ids are integers", what, r.PathValue("id")))
		return nil, false
	}
	v, ok := m[id]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s %d", what, id))
	}
	return v, ok
}

func sorted[T any](m map[int]*T, id func(*T) int) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *T) int { return id(a) - id(b) })
	return out
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
