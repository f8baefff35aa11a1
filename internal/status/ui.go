package status

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ember-go/ember/internal/bytesize"
)

// The web UI: pages rendered on the server from the store, with a style
// sheet and a small script that reloads the page's content while jobs run.
// Everything is embedded: the UI needs no network access beyond the
// driver's port, and reads fine without the script.

//go:embed ui
var uiFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"bytes": bytesize.Readable,
	"ms":    func(ms float64) string { return formatDuration(time.Duration(ms * float64(time.Millisecond))) },
	"since": func(from time.Time, to *time.Time) string {
		end := time.Now()
		if to != nil {
			end = *to
		}
		return formatDuration(end.Sub(from))
	},
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
	"percent": func(part, whole int) int {
		if whole == 0 {
			return 0
		}
		return min(100, part*100/whole)
	},
}).ParseFS(uiFiles, "ui/*.html"))

// page is what every page's template gets.
type page struct {
	Title string
	Nav   string // the tab to highlight
	Live  bool   // something runs: the page reloads itself
	Data  any
}

// serveUI adds the pages to mux.
func (s *Store) serveUI(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFiles, "ui/static")
	for _, name := range []string{"style.css", "live.js"} {
		mux.HandleFunc("GET /static/"+name, func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, static, name) })
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jobs/", http.StatusFound)
	})
	mux.HandleFunc("GET /jobs/{$}", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusOK, "jobs", page{Title: "Jobs", Nav: "jobs", Data: newest(s.Jobs())})
	})
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		job, ok := record(s, w, r, "job", s.Job)
		if !ok {
			return
		}
		stages := s.jobStages(job)
		skipped := slices.ContainsFunc(stages, func(st Stage) bool { return st.Status == "skipped" })
		s.render(w, http.StatusOK, "job", page{Title: fmt.Sprintf("Job %d", job.ID), Nav: "jobs", Data: struct {
			Job     Job
			Graph   template.HTML
			Stages  []Stage
			Skipped bool
		}{job, stageGraph(stages), stages, skipped}})
	})
	mux.HandleFunc("GET /stages/{$}", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusOK, "stages", page{Title: "Stages", Nav: "stages", Data: newest(s.Stages())})
	})
	mux.HandleFunc("GET /stages/{id}", func(w http.ResponseWriter, r *http.Request) {
		st, ok := record(s, w, r, "stage", s.Stage)
		if !ok {
			return
		}
		tasks, _ := s.Tasks(st.ID)
		s.render(w, http.StatusOK, "stage", page{Title: fmt.Sprintf("Stage %d", st.ID), Nav: "stages", Data: struct {
			Stage Stage
			Graph template.HTML
			Tasks []Task
		}{st, stageGraph([]Stage{st}), tasks}})
	})
	mux.HandleFunc("GET /executors/{$}", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusOK, "executors", page{Title: "Executors", Nav: "executors", Data: s.Executors()})
	})
	mux.HandleFunc("GET /storage/{$}", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusOK, "storage", page{Title: "Storage", Nav: "storage", Data: s.Storage()})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.notFound(w, fmt.Sprintf("There is no page %s.", r.URL.Path))
	})
}

// listRows is how many rows the lists of jobs and stages show: they are
// drawn again every second while a job runs. The API has them all.
const listRows = 200

// list is the newest rows of a list, newest first, and how many older
// ones it leaves out.
type list[T any] struct {
	Rows    []T
	Omitted int
}

// newest returns the last listRows of all, newest first.
func newest[T any](all []T) list[T] {
	omitted := max(len(all)-listRows, 0)
	rows := all[omitted:]
	slices.Reverse(rows)
	return list[T]{rows, omitted}
}

// record returns the record whose id the request's path gives, or writes
// a page that says there is none.
func record[T any](s *Store, w http.ResponseWriter, r *http.Request, what string, get func(int) (T, bool)) (T, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	v, ok := get(id)
	if err != nil || !ok {
		s.notFound(w, fmt.Sprintf("There is no %s %s.", what, r.PathValue("id")))
		return v, false
	}
	return v, true
}

func (s *Store) notFound(w http.ResponseWriter, msg string) {
	s.render(w, http.StatusNotFound, "notfound", page{Title: "Not found", Data: msg})
}

// render writes a page; a template that fails is a 500 that says so,
// never half a page.
func (s *Store) render(w http.ResponseWriter, code int, name string, p page) {
	p.Live = s.running()
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		slog.Error("status: rendering a page", "page", name, "err", err)
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// running reports whether a job runs.
func (s *Store) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.Status == "running" {
			return true
		}
	}
	return false
}

// jobStages returns the stages of job and those it read from that ran for
// earlier jobs, whose status it gives as "skipped": this job reused their
// output.
func (s *Store) jobStages(job Job) []Stage {
	var stages []Stage
	seen := map[int]bool{}
	queue := slices.Clone(job.Stages)
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		st, ok := s.Stage(id)
		if !ok {
			continue
		}
		if !slices.Contains(job.Stages, id) {
			st.Status = "skipped"
		}
		stages = append(stages, st)
		queue = append(queue, st.ParentStages...)
	}
	slices.SortFunc(stages, func(a, b Stage) int { return a.ID - b.ID })
	return stages
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}
