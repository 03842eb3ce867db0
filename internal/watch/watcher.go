package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Defaults of Options.
const (
	DefaultDebounce        = 500 * time.Millisecond
	DefaultInterval        = 5 * time.Minute
	DefaultShutdownTimeout = 60 * time.Second
	DefaultRetryDelay      = 10 * time.Second
	DefaultUnhealthyAfter  = 3
	// rootPoll is how often a vanished watched folder is looked for again;
	// only a stat, and only while it is gone.
	rootPoll = 2 * time.Second
)

// Options configure a Watcher. Dir, Load and Reconcile are required.
type Options struct {
	Dir       string
	Mode      Mode // reported in /status; the ReconcileFunc implements it
	Load      LoadFunc
	Reconcile ReconcileFunc
	// Debounce is how long the tree must stay quiet before a run (default 500ms).
	// A tree that never goes quiet still runs every 10 debounces.
	Debounce time.Duration
	// Settle is how long a file that lost VM documents must stay unchanged
	// before a run acts on the loss (default 3s, at least 2 debounces): a file
	// written in parts is valid YAML that ends early. See settle.go.
	Settle time.Duration
	// Interval is the periodic resync that catches drift made outside (default 5m).
	Interval time.Duration
	// ShutdownTimeout bounds how long Run waits for a running reconcile once its
	// context is done (default 60s).
	ShutdownTimeout time.Duration
	// RetryDelay is the first wait before a failed run is retried; it doubles up
	// to Interval (default 10s).
	RetryDelay time.Duration
	// UnhealthyAfter is how many failed runs in a row make /healthz report
	// 503 (default 3; the last run failing already makes /readyz 503).
	UnhealthyAfter int
	Logger         *slog.Logger // nil: discard
}

// Validate checks Options before any I/O.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("no folder to watch"))
	}
	if o.Load == nil || o.Reconcile == nil {
		errs = append(errs, errors.New("watch: Load and Reconcile are required"))
	}
	if o.Mode != ModeCorrect && o.Mode != ModeDetect {
		errs = append(errs, fmt.Errorf("--mode %q: use correct or detect", o.Mode))
	}
	if o.Debounce < 0 || o.Interval < 0 || o.ShutdownTimeout < 0 || o.RetryDelay < 0 || o.Settle < 0 || o.UnhealthyAfter < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if o.Interval > 0 && o.Interval < time.Second {
		errs = append(errs, fmt.Errorf("--interval %s: use 1s or more", o.Interval))
	}
	return errors.Join(errs...)
}

// Watcher runs the watch loop and holds what /status and /metrics report.
type Watcher struct {
	o    Options
	root string
	log  *slog.Logger
	m    *metrics
	hup  chan struct{}

	// Owned by the running reconcile (one at a time): see settle.go.
	quietSince time.Time
	gone       map[string]time.Time

	mu        sync.Mutex
	st        Status
	lastValid *spec.Desired
	lastDiags []Diagnostic
}

// New checks o and returns a Watcher; nothing is read until Run.
func New(o Options) (*Watcher, error) {
	if o.Mode == "" {
		o.Mode = ModeCorrect
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.UnhealthyAfter == 0 {
		o.UnhealthyAfter = DefaultUnhealthyAfter
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	root, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", o.Dir, err)
	}
	w := &Watcher{o: o, root: filepath.Clean(root), log: o.Logger, m: newMetrics(), hup: make(chan struct{}, 1)}
	w.st = Status{Dir: w.root, Mode: o.Mode, LeftOff: []LeftOff{}, Input: InputStatus{Files: []string{}, Diagnostics: []Diagnostic{}, ActingOn: "none"}}
	return w, nil
}

// Resync asks for a run now (what SIGHUP does). It never blocks; requests made
// while one is already waiting collapse into it.
func (w *Watcher) Resync() {
	select {
	case w.hup <- struct{}{}:
	default:
	}
}

// Status returns a copy of what /status shows.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.clone()
}

// outcome is what the loop needs back from a run.
type outcome struct {
	missing bool
	failed  bool
	settle  time.Duration // the input was not acted on: read it again after this
	trigger Trigger       // of the run that waited, reported by the run after the wait
}

// Run watches until ctx is done, then waits up to ShutdownTimeout for a running
// reconcile (which sees ctx done and starts no new step) and returns nil, or a
// *LeftOffError when the last run left VMs Off. The loop itself is in loop.go.
func (w *Watcher) Run(ctx context.Context) error {
	if fi, err := os.Stat(w.root); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		return fmt.Errorf("watch %s: %w: give the folder that holds the desired-state YAML", w.o.Dir, err)
	}
	t, err := newTree(w.root, w.log)
	if err != nil {
		return err
	}
	l := w.newLoop(ctx, t)
	defer l.close()
	w.log.Info("watching", "dir", w.root, "mode", w.o.Mode, "debounce", w.o.Debounce, "interval", w.o.Interval)
	l.request(TriggerStartup)
	if err := l.run(); err != nil {
		return err
	}
	if off := w.Status().LeftOff; len(off) > 0 {
		return &LeftOffError{VMs: off}
	}
	return nil
}

func (w *Watcher) setRunning(b bool) {
	w.mu.Lock()
	w.st.Running = b
	w.mu.Unlock()
}

// runOnce is one level-based run: check the folder, read the whole tree, pick
// the desired state to act on, reconcile, record.
func (w *Watcher) runOnce(ctx context.Context, tr Trigger) outcome {
	started := time.Now()
	log := w.log.With("trigger", tr)
	if fi, err := os.Stat(w.root); err != nil || !fi.IsDir() {
		log.Error("the watched folder is gone: taking no action until it is back; restore it or restart with another folder", "dir", w.root)
		w.mu.Lock()
		w.st.FolderMissing = true
		w.mu.Unlock()
		w.m.missing.Set(1)
		w.finish(log, tr, started, ResultSkipped, RunResult{}, errors.New("the watched folder is missing"))
		return outcome{missing: true}
	}
	w.m.missing.Set(0)

	in := w.o.Load(ctx, w.root)
	if wait, why := w.settle(in, time.Now()); wait > 0 {
		w.hold(log, why)
		return outcome{settle: wait, trigger: tr}
	}
	desired, acting := w.accept(log, in)
	if desired == nil {
		log.Warn("no valid desired state yet: nothing is reconciled until the files are fixed")
		w.finish(log, tr, started, ResultSkipped, RunResult{}, nil)
		return outcome{}
	}
	log.Debug("reconciling", "acting_on", acting, "vms", len(desired.VMs), "clusters", len(desired.Clusters))
	res, err := w.o.Reconcile(ctx, desired, tr)
	result := ResultNoop
	switch {
	case err != nil:
		result = ResultError
	case len(res.Changes) > 0 && res.Applied:
		result = ResultApplied
	case len(res.Changes) > 0:
		result = ResultDrift
	}
	w.recordDrift(desired, res)
	w.m.recordFindings(res.Findings)
	w.m.recordAttestations(res.Attestations)
	w.finish(log, tr, started, result, res, err)
	return outcome{failed: err != nil}
}

// hold records why the input just read is not acted on yet.
func (w *Watcher) hold(log *slog.Logger, why string) {
	w.mu.Lock()
	changed := w.st.Waiting != why
	w.st.Waiting = why
	w.mu.Unlock()
	if changed {
		log.Info("waiting for the files to settle", "why", why)
	}
}

// accept records a read of the tree and returns the desired state to act on:
// the new one when valid, else the last valid one (never a partial one).
func (w *Watcher) accept(log *slog.Logger, in Input) (*spec.Desired, string) {
	now := time.Now()
	valid := in.Valid()
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := !reflect.DeepEqual(in.Diagnostics, w.lastDiags)
	w.lastDiags = in.Diagnostics
	if valid {
		w.lastValid = in.Desired
	}
	acting := "current"
	switch {
	case !valid && w.lastValid != nil:
		acting = "last-valid"
	case !valid:
		acting = "none"
	}
	w.st.FolderMissing = false
	w.st.Waiting = ""
	w.st.Input = InputStatus{ReadAt: &now, Valid: valid, Files: nonNil(in.Files), Diagnostics: nonNil(in.Diagnostics), ActingOn: acting}
	if in.Err != nil {
		w.st.Input.Error = in.Err.Error()
	}
	if valid {
		w.m.invalid.Set(0)
	} else {
		w.m.invalid.Set(1)
	}
	counts := map[spec.Severity]float64{spec.SeverityError: 0, spec.SeverityWarning: 0}
	for _, d := range in.Diagnostics {
		counts[d.Severity]++
	}
	for sev, n := range counts {
		w.m.diagnostics.WithLabelValues(string(sev)).Set(n)
	}
	if changed || in.Err != nil {
		for _, d := range in.Diagnostics {
			lvl := slog.LevelWarn
			if d.Severity == spec.SeverityError {
				lvl = slog.LevelError
			}
			log.Log(context.Background(), lvl, d.Message, "rule", d.Rule, "file", d.File, "line", d.Line, "column", d.Column, "path", d.Path)
		}
		if in.Err != nil {
			log.Error("cannot read the desired-state files", "err", in.Err)
		}
		if !valid {
			log.Error("the desired-state files hold errors: keeping the last valid desired state until they are fixed", "acting_on", acting)
		}
	}
	return w.lastValid, acting
}

func (w *Watcher) recordDrift(d *spec.Desired, res RunResult) {
	if !res.Observed {
		return // nothing was seen: keep the last known numbers
	}
	w.m.drifted.Reset()
	for _, c := range d.Clusters {
		w.m.drifted.WithLabelValues(c.Name).Set(0)
	}
	for _, c := range res.Changes {
		w.m.drifted.WithLabelValues(c.Cluster).Inc()
	}
}

func (w *Watcher) finish(log *slog.Logger, tr Trigger, started time.Time, result string, res RunResult, err error) {
	end := time.Now()
	dur := end.Sub(started)
	w.m.reconciles.WithLabelValues(result).Inc()
	w.m.duration.Observe(dur.Seconds())
	for _, s := range res.Steps {
		w.m.steps.WithLabelValues(string(s.Op), s.Result).Inc()
	}
	rs := &RunStatus{Trigger: tr, StartedAt: started, FinishedAt: end, Seconds: dur.Seconds(), Result: result,
		Summary: res.Summary, Changes: nonNil(res.Changes), Findings: nonNil(res.Findings), Attestations: map[string]int{}}
	for k, v := range res.Attestations {
		rs.Attestations[k] = v
	}
	if err != nil {
		rs.Error = err.Error()
	}
	w.mu.Lock()
	w.st.Runs++
	w.st.LastRun = rs
	switch result {
	case ResultError:
		w.st.Failures++
	case ResultSkipped:
	default:
		w.st.Failures = 0
	}
	if res.Observed {
		w.st.Ready = true
		w.m.ready.Set(1)
		w.st.LeftOff = nonNil(res.LeftOff)
	}
	if result != ResultError && result != ResultSkipped {
		w.st.LastSuccess = &end
		w.m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	}
	w.mu.Unlock()

	attrs := []any{"result", result, "duration", dur.Round(time.Millisecond), "create", res.Summary.Create,
		"update", res.Summary.Update, "replace", res.Summary.Replace, "delete", res.Summary.Delete, "blocked", res.Summary.Blocked}
	switch {
	case err != nil:
		log.Error("reconcile failed; retrying later", append(attrs, "err", err)...)
	case result == ResultDrift:
		log.Warn("drift found (mode detect: nothing changed)", attrs...)
	default:
		log.Info("reconciled", attrs...)
	}
	for _, v := range res.LeftOff {
		log.Error("VM left Off: the run stopped it and could not start it again", "resource", v.Resource, "cluster", v.Cluster, "power", v.Power)
	}
	for _, f := range res.Findings {
		if f.Severity == plan.SeverityError || result == ResultDrift {
			log.Warn(f.Message, "finding", f.Rule, "resource", f.Resource, "cluster", f.Cluster, "severity", f.Severity)
		}
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
