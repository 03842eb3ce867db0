package watch_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// TestSimUnreadableJournalIsReported is issue 14 item 5 (watch half). Before,
// a journal that could not be read failed every run while /healthz said "ok"
// and /readyz "ready". Now /readyz reports the failed run at once and /healthz
// after UnhealthyAfter failed runs in a row; both recover with the journal.
func TestSimUnreadableJournalIsReported(t *testing.T) {
	e := startSim(t, watch.ModeCorrect, nil)
	e.waitIdle(t)
	journal := filepath.Join(e.state, apply.JournalFile)
	if err := os.RemoveAll(journal); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(journal, 0o700); err != nil { // reading it fails: "is a directory"
		t.Fatal(err)
	}
	e.w.Resync()
	waitFor(t, "/readyz to report the failed run", func() bool {
		code, body := e.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(string(body), "journal")
	})
	waitFor(t, "/healthz to report runs that cannot proceed", func() bool {
		code, body := e.get(t, "/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(string(body), "runs failed") && strings.Contains(string(body), "journal")
	})
	if err := os.Remove(journal); err != nil {
		t.Fatal(err)
	}
	e.w.Resync()
	waitFor(t, "/healthz and /readyz to recover", func() bool {
		h, _ := e.get(t, "/healthz")
		r, _ := e.get(t, "/readyz")
		return h == http.StatusOK && r == http.StatusOK
	})
}

// TestRunReportsVMsLeftOff is issue 14 item 3 (watch half), with the loop
// alone: the last run left a VM Off, so Run (what SIGTERM ends) returns a
// *LeftOffError naming it. Before, Run returned nil and watch exited 0.
func TestRunReportsVMsLeftOff(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	off := watch.LeftOff{Resource: "vm/avd-01", Cluster: "hci-west", Power: "left Off: the vTPM was reset"}
	ran := make(chan struct{}, 1)
	w, err := watch.New(watch.Options{Dir: dir, Load: textLoad, Debounce: 50 * time.Millisecond, Interval: time.Hour,
		Reconcile: func(context.Context, *spec.Desired, watch.Trigger) (watch.RunResult, error) {
			select {
			case ran <- struct{}{}:
			default:
			}
			return watch.RunResult{Observed: true, LeftOff: []watch.LeftOff{off}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	<-ran
	waitFor(t, "the run to be recorded", func() bool { return len(w.Status().LeftOff) == 1 })
	cancel()
	err = <-errc
	var lo *watch.LeftOffError
	if !errors.As(err, &lo) || !strings.Contains(err.Error(), "vm/avd-01") {
		t.Fatalf("Run = %v, want a *LeftOffError naming vm/avd-01", err)
	}
}

// TestSimLeftOffReachesRun drives the real apply: with --allow-destructive a
// drifted Secure Boot template is fixed by resetting the vTPM; the template
// step then fails for good, so the plan's on_failure leaves the VM Off (a boot
// would initialise the new vTPM under the wrong template). The pipeline takes
// apply's "left Off" into the result, /status shows it, and Run's error
// names the VM.
func TestSimLeftOffReachesRun(t *testing.T) {
	e := startSimWith(t, watch.ModeCorrect, func(p *watch.Pipeline) { p.AllowDestructive = true }, nil)
	e.waitIdle(t)
	writeAtomic(t, filepath.Join(e.dir, "avd-01.yaml"), vmYAML("avd-01", 2))
	e.waitVM(t, "avd-01", "created", func(v *drivers.VM) bool { return v.Annotations != nil && v.Power == drivers.PowerRunning })
	e.waitIdle(t)
	if err := e.drv.Drift(context.Background(), "hci-west", "avd-01", []hvmodel.Setting{{Field: "secureBootTemplate", Value: "MicrosoftUEFICertificateAuthority"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.drv.Inject("hci-west", hvmodel.Fault{Op: drivers.OpSetSecureBoot, FailAlways: true}); err != nil {
		t.Fatal(err)
	}
	e.w.Resync()
	waitFor(t, "/status to show the VM left Off", func() bool { return len(e.status(t).LeftOff) == 1 })
	err := e.shutdown()
	var lo *watch.LeftOffError
	if !errors.As(err, &lo) || lo.VMs[0].Resource != "vm/avd-01" || !strings.HasPrefix(lo.VMs[0].Power, "left Off") {
		t.Fatalf("Run = %v, want a *LeftOffError for vm/avd-01", err)
	}
}
