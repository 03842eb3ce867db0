package watch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// Reconcile results, the values of the "result" label.
const (
	ResultNoop    = "noop"    // nothing to change (findings, such as a lost vTPM, are in tlreconcile_findings)
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
	findings    *prometheus.GaugeVec
	attested    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlreconcile_reconciles_total",
			Help: "Reconcile runs by result (noop, applied, drift, error, skipped); a noop run can still have findings, see tlreconcile_findings.",
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
			Help: "Plan steps that apply ended, by op and result (succeeded, failed, skipped, blocked).",
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
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlreconcile_findings",
			Help: "Findings of the last plan (such as vtpm-state-lost), by rule, severity (error, warning, info) and cluster; a finding that is resolved leaves the set.",
		}, []string{"rule", "severity", "cluster"}),
		attested: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlreconcile_attestations",
			Help: "Managed VMs by the result of their last guest attestation (verified, failed, unavailable), as the last observation found them.",
		}, []string{"result"}),
	}
	for _, r := range []string{ResultNoop, ResultApplied, ResultDrift, ResultError, ResultSkipped} {
		m.reconciles.WithLabelValues(r) // export zeros so rate() works from the start
	}
	m.reg.MustRegister(m.reconciles, m.duration, m.drifted, m.steps, m.lastSuccess, m.invalid,
		m.diagnostics, m.missing, m.ready, m.coalesced, m.findings, m.attested,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// recordFindings makes tlreconcile_findings the count of each rule, severity
// and cluster in the findings of the run's plan, dropping what the previous
// plan had, so an alert on a lost vTPM clears once it is resolved. nil means
// no plan was made (observe or plan failed; a plan's findings are never nil):
// the last plan's findings are kept then, since nothing says they are gone.
func (m *metrics) recordFindings(fs []plan.Finding) {
	if fs == nil {
		return
	}
	m.findings.Reset()
	for _, f := range fs {
		m.findings.WithLabelValues(f.Rule, string(f.Severity), f.Cluster).Inc()
	}
}

// recordAttestations sets tlreconcile_attestations from the run's count;
// nil (nothing observed) keeps the last one.
func (m *metrics) recordAttestations(by map[string]int) {
	if by == nil {
		return
	}
	for result, n := range by {
		m.attested.WithLabelValues(result).Set(float64(n))
	}
}
