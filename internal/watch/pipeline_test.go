package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

const clusterYAML = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: hci-west}
spec:
  driver: sim
  nodes: [node1, node2]
  liveMigration: {encryption: ipsec}
`

func vmYAML(name string, processors int) string {
	return fmt.Sprintf(`apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: %s, cluster: hci-west}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: %d
  placement: {node: node1}
`, name, processors)
}

// simEnv is a watcher on the real pipeline and sim driver, with its HTTP surface
// on a loopback port.
type simEnv struct {
	dir, state string
	w          *watch.Watcher
	drv        *hvmodel.Driver
	base       string
	stop       func() error // ends the watcher and returns Run's error (once; the cleanup calls it too)
	stopped    bool         // the test called shutdown and checks Run's error itself
}

// shutdown stops the watcher as SIGTERM does and returns what Run returned.
func (e *simEnv) shutdown() error {
	e.stopped = true
	return e.stop()
}

func startSim(t *testing.T, mode watch.Mode, tune func(*watch.Options)) *simEnv {
	t.Helper()
	return startSimWith(t, mode, nil, tune)
}

// startSimWith is startSim with the pipeline tuned too (Prune, AllowDestructive).
func startSimWith(t *testing.T, mode watch.Mode, tuneP func(*watch.Pipeline), tune func(*watch.Options)) *simEnv {
	t.Helper()
	e := &simEnv{dir: t.TempDir(), state: t.TempDir()}
	write(t, filepath.Join(e.dir, "cluster.yaml"), clusterYAML)
	reg := drivers.NewRegistry()
	reg.Register(hvmodel.Name, hvmodel.Factory)
	cfg := drivers.Config{StateDir: e.state}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := &watch.Pipeline{Registry: reg, Config: cfg, Mode: mode, Logger: log,
		Retry: apiRetry()}
	if tuneP != nil {
		tuneP(p)
	}
	o := watch.Options{Dir: e.dir, Mode: mode, Load: p.Load, Reconcile: p.Reconcile, Logger: log,
		Debounce: 50 * time.Millisecond, Interval: time.Hour, RetryDelay: 100 * time.Millisecond}
	if tune != nil {
		tune(&o)
	}
	w, err := watch.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.w = w
	if e.drv, err = hvmodel.New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	go func() { errc <- w.Serve(ctx, ln) }()
	e.stop = sync.OnceValue(func() error {
		cancel()
		var err error
		select {
		case err = <-runErr:
		case <-time.After(20 * time.Second):
			t.Error("watcher did not stop within 20s")
		}
		select {
		case serr := <-errc:
			if serr != nil {
				t.Errorf("serve: %v", serr)
			}
		case <-time.After(20 * time.Second):
			t.Error("the HTTP surface did not stop within 20s")
		}
		return err
	})
	t.Cleanup(func() {
		if err := e.stop(); err != nil && !e.stopped {
			t.Errorf("watcher: %v", err)
		}
	})
	return e
}

// waitIdle waits until the watcher is ready and its startup run (and anything
// queued behind it) has finished, so the next file event is the only trigger.
func (e *simEnv) waitIdle(t *testing.T) {
	t.Helper()
	waitFor(t, "the watcher to be ready and idle", func() bool {
		if code, _ := e.get(t, "/readyz"); code != http.StatusOK {
			return false
		}
		st := e.status(t)
		return st.Runs > 0 && !st.Running && st.Pending == ""
	})
}

// testWriter sends logs to t.Log so a failing test shows what the watcher did.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func (e *simEnv) vm(t *testing.T, name string) *drivers.VM {
	t.Helper()
	ref := drivers.ClusterRef{Name: "hci-west", Driver: hvmodel.Name, Nodes: []string{"node1", "node2"}, Options: map[string]any{"vtpmBackend": "reference"}}
	v, err := e.drv.ObserveVM(context.Background(), ref, name)
	if err != nil {
		return nil
	}
	return v
}

func (e *simEnv) waitVM(t *testing.T, name, what string, ok func(*drivers.VM) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := e.vm(t, name)
		if v != nil && ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vm/%s: not %s within 60s (observed %+v); status: %+v", name, what, v, e.w.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *simEnv) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(e.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (e *simEnv) status(t *testing.T) watch.Status {
	t.Helper()
	code, b := e.get(t, "/status")
	var st watch.Status
	if code != http.StatusOK {
		t.Fatalf("/status: HTTP %d", code)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("/status: %v: %s", err, b)
	}
	return st
}

// metrics scrapes /metrics and parses it as Prometheus text exposition.
func (e *simEnv) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := e.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the family's sample whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s has no sample with labels %v", name, want)
	return 0
}

func TestSimDropEditInvalidFix(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, nil)
	waitFor(t, "ready after the first observe", func() bool { code, _ := e.get(t, "/readyz"); return code == http.StatusOK })
	if code, _ := e.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: HTTP %d", code)
	}

	writeAtomic(t, filepath.Join(e.dir, "pool", "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool {
		return v.Power == drivers.PowerRunning && v.TPMEnabled && v.SecureBoot && v.Annotations != nil
	})
	writeAtomic(t, filepath.Join(e.dir, "pool", "avd-01.yaml"), vmYAML("avd-01", 4))
	e.waitVM(t, "avd-01", "updated to 4 processors", func(v *drivers.VM) bool { return v.Processors == 4 && v.Power == drivers.PowerRunning })
	waitFor(t, "the update run to finish", func() bool {
		st := e.status(t)
		return !st.Running && st.Pending == "" && st.LastRun.Result == watch.ResultApplied
	})

	// An invalid edit: nothing changes, /status shows why.
	writeAtomic(t, filepath.Join(e.dir, "pool", "avd-01.yaml"), strings.Replace(vmYAML("avd-01", 8), "processors", "procesors", 1))
	var st watch.Status
	waitFor(t, "/status to show the diagnostics", func() bool {
		st = e.status(t)
		return !st.Input.Valid && len(st.Input.Diagnostics) > 0 && st.LastRun != nil && !st.Running && st.LastRun.FinishedAt.After(*st.Input.ReadAt)
	})
	d := st.Input.Diagnostics[0]
	if d.File != filepath.Join(e.dir, "pool", "avd-01.yaml") || d.Line == 0 || d.Message == "" || st.Input.ActingOn != "last-valid" {
		t.Fatalf("diagnostic = %+v, acting_on %q; want the file, a line, a message and last-valid", d, st.Input.ActingOn)
	}
	if st.LastRun.Result != watch.ResultNoop {
		t.Fatalf("run on the last valid state = %s, want noop", st.LastRun.Result)
	}
	if v := e.vm(t, "avd-01"); v == nil || v.Processors != 4 {
		t.Fatalf("an invalid edit changed the VM: %+v", v)
	}
	fams := e.metrics(t)
	if got := value(t, fams, "tlreconcile_invalid_input", nil); got != 1 {
		t.Fatalf("tlreconcile_invalid_input = %v while invalid, want 1", got)
	}

	// The fix is applied.
	writeAtomic(t, filepath.Join(e.dir, "pool", "avd-01.yaml"), vmYAML("avd-01", 6))
	e.waitVM(t, "avd-01", "updated to 6 processors", func(v *drivers.VM) bool { return v.Processors == 6 && v.Power == drivers.PowerRunning })
	waitFor(t, "the fix run to finish", func() bool {
		st := e.status(t)
		return !st.Running && st.Pending == "" && st.Input.Valid && st.LastRun.Result == watch.ResultApplied
	})

	fams = e.metrics(t)
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"tlreconcile_reconciles_total", map[string]string{"result": "applied"}, 3},
		{"tlreconcile_reconciles_total", map[string]string{"result": "noop"}, 1},
		{"tlreconcile_steps_total", map[string]string{"op": "create-vm", "result": "succeeded"}, 1},
		{"tlreconcile_steps_total", map[string]string{"op": "set-processor", "result": "succeeded"}, 2},
		{"tlreconcile_reconcile_duration_seconds", nil, 4},
		{"tlreconcile_last_success_timestamp_seconds", nil, float64(time.Now().Add(-time.Minute).Unix())},
		{"tlreconcile_ready", nil, 1},
	} {
		if got := value(t, fams, c.name, c.labels); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	if got := value(t, fams, "tlreconcile_invalid_input", nil); got != 0 {
		t.Errorf("tlreconcile_invalid_input = %v after the fix, want 0", got)
	}
	if got := value(t, fams, "tlreconcile_drifted_resources", map[string]string{"cluster": "hci-west"}); got != 1 {
		t.Errorf("drifted resources at the last run = %v, want 1 (the VM it just updated)", got)
	}
}

func TestSimRemovedFileDeletesNothingWithoutPrune(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, nil)
	e.waitIdle(t) // else the file's event can trail the startup run that already created the VM
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool { return v.Annotations != nil })
	waitFor(t, "the create run to finish", func() bool {
		st := e.status(t)
		return !st.Running && st.Pending == "" && st.LastRun.Result == watch.ResultApplied
	})
	runs := e.status(t).Runs
	if err := os.Remove(filepath.Join(e.dir, "avd-01.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a run after the removal", func() bool { st := e.status(t); return st.Runs > runs && !st.Running })
	if st := e.status(t); st.LastRun.Result != watch.ResultNoop {
		t.Fatalf("run after the removal = %+v, want noop without --prune", st.LastRun)
	}
	if e.vm(t, "avd-01") == nil {
		t.Fatal("the VM was deleted without --prune")
	}
}

func TestSimDriftCorrectedAtResync(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, func(o *watch.Options) { o.Interval = time.Second })
	e.waitIdle(t)
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool { return v.Annotations != nil && v.Power == drivers.PowerRunning })
	waitFor(t, "a clean run after the create", func() bool { st := e.status(t); return !st.Running && st.LastRun.Result == watch.ResultNoop })
	applied := value(t, e.metrics(t), "tlreconcile_reconciles_total", map[string]string{"result": "applied"})

	// Drift behind tlreconcile's back; no file changes, so only the resync sees it.
	if err := e.drv.Drift(context.Background(), "hci-west", "avd-01", []hvmodel.Setting{{Field: "secureBoot", Value: "false"}}); err != nil {
		t.Fatal(err)
	}
	e.waitVM(t, "avd-01", "corrected by a resync", func(v *drivers.VM) bool { return v.SecureBoot && v.Power == drivers.PowerRunning })
	waitFor(t, "the correcting run to be counted", func() bool {
		return value(t, e.metrics(t), "tlreconcile_reconciles_total", map[string]string{"result": "applied"}) > applied
	})
}

func TestSimDriftOnlyReportedInDetectMode(t *testing.T) {
	e := startSim(t, watch.ModeDetect, nil)
	waitFor(t, "ready", func() bool { code, _ := e.get(t, "/readyz"); return code == http.StatusOK })
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	var st watch.Status
	waitFor(t, "the missing VM reported as drift", func() bool {
		st = e.status(t)
		if st.Running || st.LastRun.Result != watch.ResultDrift || st.LastRun.Summary.Create != 1 {
			return false
		}
		for _, c := range st.LastRun.Changes {
			if c.Resource == "vm/avd-01" && c.Action == plan.ActionCreate {
				return true
			}
		}
		return false
	})
	drifted := len(st.LastRun.Changes) // the VM, and the fresh cluster's node settings
	if e.vm(t, "avd-01") != nil {
		t.Fatal("detect mode created a VM")
	}
	e.w.Resync() // SIGHUP's path
	waitFor(t, "the forced resync", func() bool { st := e.status(t); return !st.Running && st.LastRun.Trigger == watch.TriggerSignal })
	fams := e.metrics(t)
	if got := value(t, fams, "tlreconcile_drifted_resources", map[string]string{"cluster": "hci-west"}); got != float64(drifted) {
		t.Fatalf("drifted resources = %v, want %d", got, drifted)
	}
	if got := value(t, fams, "tlreconcile_reconciles_total", map[string]string{"result": "drift"}); got < 2 {
		t.Fatalf("drift runs = %v, want at least 2", got)
	}
	if got := value(t, fams, "tlreconcile_reconciles_total", map[string]string{"result": "applied"}); got != 0 {
		t.Fatalf("applied runs = %v in detect mode, want 0", got)
	}
}

// apiRetry keeps transient-error retries short in tests.
func apiRetry() apply.Retry {
	return apply.Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}
}

// TestSimDestructiveBlockedOthersCorrected: without --allow-destructive a VM
// whose fix would reset its vTPM is reported blocked and left alone, while
// the daemon still corrects every other VM in the same run.
func TestSimDestructiveBlockedOthersCorrected(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, nil)
	e.waitIdle(t)
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	writeAtomic(t, filepath.Join(e.dir, "avd-02.yaml"), vmYAML("avd-02", 2))
	for _, name := range []string{"avd-01", "avd-02"} {
		e.waitVM(t, name, "created", func(v *drivers.VM) bool { return v.Annotations != nil && v.Power == drivers.PowerRunning })
	}
	e.waitIdle(t)
	before := e.vm(t, "avd-01")

	ctx := context.Background()
	if err := e.drv.Drift(ctx, "hci-west", "avd-01", []hvmodel.Setting{{Field: "secureBootTemplate", Value: "MicrosoftUEFICertificateAuthority"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.drv.Drift(ctx, "hci-west", "avd-02", []hvmodel.Setting{{Field: "processors", Value: "3"}}); err != nil {
		t.Fatal(err)
	}
	runs := e.status(t).Runs
	e.w.Resync()
	e.waitVM(t, "avd-02", "corrected", func(v *drivers.VM) bool { return v.Processors == 2 && v.Power == drivers.PowerRunning })
	var st watch.Status
	waitFor(t, "the run after the drift to finish", func() bool { st = e.status(t); return st.Runs > runs && !st.Running })
	blocked := false
	for _, c := range st.LastRun.Changes {
		if c.Resource == "vm/avd-01" && c.Blocked {
			blocked = true
		}
	}
	if !blocked {
		t.Fatalf("vm/avd-01 not reported blocked: %+v", st.LastRun)
	}
	after := e.vm(t, "avd-01")
	if after.SecureBootTemplate != spec.TemplateMicrosoftUEFICA || after.VTPMIdentity != before.VTPMIdentity || after.Power != drivers.PowerRunning {
		t.Fatalf("the destructive fix ran without --allow-destructive: %+v", after)
	}
}
