package watch_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// textLoad is a LoadFunc for loop tests: the files are spec.Files' (the walker
// spec.Load uses, with its diagnostics), and every line of a file names one VM;
// a file whose content says "invalid" is an error diagnostic.
func textLoad(_ context.Context, root string) watch.Input {
	files, diags := spec.Files(root)
	in := watch.Input{Files: files, Desired: &spec.Desired{Files: files}, Diagnostics: diags}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // vanished mid-read; the next trigger re-reads
		}
		text := strings.TrimSpace(string(b))
		if strings.Contains(text, "invalid") {
			in.Diagnostics = append(in.Diagnostics, watch.Diagnostic{Severity: "error", Rule: "test-invalid", File: f, Line: 1, Column: 1, Message: "file says invalid"})
			continue
		}
		for name := range strings.FieldsSeq(text) {
			in.Desired.VMs = append(in.Desired.VMs, spec.VM{Name: name, Pos: spec.Pos{File: f}})
		}
	}
	if !in.Valid() {
		in.Desired = nil
	}
	return in
}

// run is one call of the counting reconciler.
type run struct {
	trigger watch.Trigger
	vms     []string
	at      time.Time
}

// recorder is a counting ReconcileFunc that remembers what each run was given
// and checks that runs never overlap.
type recorder struct {
	mu      sync.Mutex
	runs    []run
	active  int
	overlap bool
	gate    chan struct{} // non-nil: each run waits for a receive
	fail    int           // the first fail runs return an error
}

func (r *recorder) reconcile(ctx context.Context, d *spec.Desired, tr watch.Trigger) (watch.RunResult, error) {
	r.mu.Lock()
	r.active++
	if r.active > 1 {
		r.overlap = true
	}
	var vms []string
	for _, v := range d.VMs {
		vms = append(vms, v.Name)
	}
	slices.Sort(vms)
	r.runs = append(r.runs, run{trigger: tr, vms: vms, at: time.Now()})
	n := len(r.runs)
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	r.active--
	r.mu.Unlock()
	if n <= r.fail {
		return watch.RunResult{}, errors.New("injected failure")
	}
	return watch.RunResult{Observed: true}, nil
}

func (r *recorder) snapshot() []run {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overlap {
		panic("two reconciles ran at once")
	}
	return slices.Clone(r.runs)
}

// waitRun waits for a run, at index from or later, that ok accepts, and returns its index.
func (r *recorder) waitRun(t *testing.T, from int, what string, ok func(run) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runs := r.snapshot()
		for i := from; i < len(runs); i++ {
			if ok(runs[i]) {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no run %s within 10s; runs: %+v", what, r.snapshot())
	return -1
}

func (r *recorder) waitVMs(t *testing.T, from int, vms ...string) int {
	t.Helper()
	return r.waitRun(t, from, "with VMs "+strings.Join(vms, ","), func(x run) bool { return slices.Equal(x.vms, vms) })
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs a watcher on dir until the test ends and checks that Run returns nil.
// Loop tests rename VMs all the time (a rename is a VM lost from a file), so
// Settle is short here; TestHalfWrittenFile tests it at its real length.
func start(t *testing.T, dir string, rec *recorder, tune func(*watch.Options)) *watch.Watcher {
	t.Helper()
	o := watch.Options{Dir: dir, Mode: watch.ModeCorrect, Load: textLoad, Reconcile: rec.reconcile,
		Debounce: 50 * time.Millisecond, Settle: 150 * time.Millisecond, Interval: time.Hour}
	if tune != nil {
		tune(&o)
	}
	w, err := watch.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if rec.gate != nil {
			close(rec.gate)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return w
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := writeFile(path, content); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic writes like an editor that saves by rename: a hidden temp file
// (ignored by the watcher) renamed over path, so the watcher sees the finished
// file in one event and a test gets exactly one trigger per edit, however
// slowly a loaded machine schedules the write.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := writeFile(tmp, content); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
