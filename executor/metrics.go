package executor

import (
	"time"

	"github.com/ember-go/ember/task"
	"github.com/prometheus/client_golang/prometheus"
)

// daemonMetrics are an executor's Prometheus metrics.
type daemonMetrics struct {
	registry *prometheus.Registry
	tasks    *prometheus.CounterVec
	duration prometheus.Histogram
	shuffle  *prometheus.CounterVec
}

func newDaemonMetrics(d *Daemon) *daemonMetrics {
	m := &daemonMetrics{registry: prometheus.NewRegistry()}
	m.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_executor_tasks_total", Help: "Tasks this executor ran, by outcome."}, []string{"outcome"})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ember_executor_task_duration_seconds", Help: "Durations of the tasks this executor ran, waits for a slot included.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})
	m.shuffle = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_executor_shuffle_bytes_total", Help: "Shuffle bytes the tasks that finished here read and wrote, by direction."}, []string{"direction"})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(m.tasks, m.duration, m.shuffle,
		gauge("ember_executor_running_tasks", "Tasks running now.", func() float64 { return float64(len(d.slots)) }),
		gauge("ember_executor_cores", "Task slots offered.", func() float64 { return float64(cap(d.slots)) }),
		gauge("ember_executor_cached_bytes", "Bytes of cached blocks in memory.", func() float64 { mem, _, _ := d.blocks.Usage(); return float64(mem) }),
		gauge("ember_executor_spilled_bytes", "Bytes of cached blocks on disk.", func() float64 { _, _, disk := d.blocks.Usage(); return float64(disk) }),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// taskEnded counts a task that ran here, and what it counted.
func (m *daemonMetrics) taskEnded(failed bool, d time.Duration, tm task.Metrics) {
	outcome := "succeeded"
	if failed {
		outcome = "failed"
	}
	m.tasks.WithLabelValues(outcome).Inc()
	m.duration.Observe(d.Seconds())
	if !failed {
		m.shuffle.WithLabelValues("read").Add(float64(max(tm.ShuffleReadBytes, 0)))
		m.shuffle.WithLabelValues("write").Add(float64(max(tm.ShuffleWriteBytes, 0)))
	}
}
