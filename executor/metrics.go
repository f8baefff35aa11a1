package executor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// daemonMetrics are an executor's Prometheus metrics.
type daemonMetrics struct {
	registry *prometheus.Registry
	tasks    *prometheus.CounterVec
}

func newDaemonMetrics(d *Daemon) *daemonMetrics {
	m := &daemonMetrics{registry: prometheus.NewRegistry()}
	m.tasks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ember_executor_tasks_total", Help: "Tasks this executor ran, by outcome."}, []string{"outcome"})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(m.tasks,
		gauge("ember_executor_running_tasks", "Tasks running now.", func() float64 { return float64(len(d.slots)) }),
		gauge("ember_executor_cores", "Task slots offered.", func() float64 { return float64(cap(d.slots)) }),
		gauge("ember_executor_cached_bytes", "Bytes of cached blocks in memory.", func() float64 { return float64(d.blocks.Status().MemoryUsed) }),
		gauge("ember_executor_spilled_bytes", "Bytes of cached blocks on disk.", func() float64 { return float64(d.blocks.Status().DiskUsed) }),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// taskEnded counts a task that ran here.
func (m *daemonMetrics) taskEnded(failed bool) {
	outcome := "succeeded"
	if failed {
		outcome = "failed"
	}
	m.tasks.WithLabelValues(outcome).Inc()
}
