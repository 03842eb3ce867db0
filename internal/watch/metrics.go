package watch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Reconcile results, the values of the "result" label.
const (
	ResultNoop    = "noop"    // observed state already matched
	ResultApplied = "applied" // changes were applied (mode correct)
	ResultDrift   = "drift"   // changes were found and only reported (mode detect)
	ResultError   = "error"   // observe, plan or apply failed
	ResultSkipped = "skipped" // nothing to act on: no valid desired state yet, or the folder is gone
)

// metrics are the watcher's Prometheus collectors, on a registry of its own so
// that two watchers (tests) never share or collide.
type metrics struct {
	reg         *prometheus.Registry
	reconciles  *prometheus.CounterVec
	duration    prometheus.Histogram
	drifted     *prometheus.GaugeVec
	steps       *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	invalid     prometheus.Gauge
	diagnostics *prometheus.GaugeVec
	missing     prometheus.Gauge
	ready       prometheus.Gauge
	coalesced   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlreconcile_reconciles_total",
			Help: "Reconcile runs by result (noop, applied, drift, error, skipped).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tlreconcile_reconcile_duration_seconds",
			Help:    "Wall time of one reconcile run: read, observe, plan and apply.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlreconcile_drifted_resources",
			Help: "Resources whose observed state differed from the desired state at the last run, per cluster.",
		}, []string{"cluster"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlreconcile_steps_total",
			Help: "Plan steps by op and result (done, failed, skipped).",
		}, []string{"op", "result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlreconcile_last_success_timestamp_seconds",
			Help: "Unix time of the end of the last reconcile run that did not fail.",
		}),
		invalid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlreconcile_invalid_input",
			Help: "1 while the desired-state files hold errors (the last valid desired state is used), else 0.",
		}),
		diagnostics: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlreconcile_input_diagnostics",
			Help: "Diagnostics of the last read of the desired-state files, by severity.",
		}, []string{"severity"}),
		missing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlreconcile_watched_folder_missing",
			Help: "1 while the watched folder does not exist (no action is taken), else 0.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tlreconcile_ready",
			Help: "1 once a run has observed the clusters successfully.",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tlreconcile_triggers_coalesced_total",
			Help: "Triggers that arrived during a run and were folded into its one follow-up run.",
		}),
	}
	for _, r := range []string{ResultNoop, ResultApplied, ResultDrift, ResultError, ResultSkipped} {
		m.reconciles.WithLabelValues(r) // export zeros so rate() works from the start
	}
	m.reg.MustRegister(m.reconciles, m.duration, m.drifted, m.steps, m.lastSuccess, m.invalid,
		m.diagnostics, m.missing, m.ready, m.coalesced,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
