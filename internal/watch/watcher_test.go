package watch_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

func TestDropEditNewSubfolderAndRemove(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	w := start(t, dir, rec, nil)
	waitFor(t, "the startup read of the empty folder", func() bool { return w.Status().LastRun != nil })

	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	i := rec.waitVMs(t, 0, "vm-a")
	write(t, filepath.Join(dir, "a.yaml"), "vm-b")
	i = rec.waitVMs(t, i+1, "vm-b")
	// A folder tree made in one go: files may land before the new folders are watched;
	// the level-based re-read still sees them.
	write(t, filepath.Join(dir, "x", "y", "z", "c.yml"), "vm-c")
	i = rec.waitVMs(t, i+1, "vm-b", "vm-c")
	// Then an edit deep in the new tree, which needs the new watches.
	write(t, filepath.Join(dir, "x", "y", "z", "c.yml"), "vm-d")
	i = rec.waitVMs(t, i+1, "vm-b", "vm-d")
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	i = rec.waitVMs(t, i+1, "vm-d")
	if err := os.RemoveAll(filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	// A folder left without YAML is what validate calls it, an error: the
	// last valid desired state stays in force and nothing is pruned.
	waitFor(t, "the emptied folder to be reported", func() bool {
		in := w.Status().Input
		return len(in.Diagnostics) == 1 && in.Diagnostics[0].Rule == spec.RuleNoYAMLFiles && in.ActingOn == "last-valid"
	})
	for _, r := range rec.snapshot()[i+1:] {
		if len(r.vms) == 0 {
			t.Fatalf("a run acted on the emptied folder: %+v", r)
		}
	}
}

func TestInvalidInputKeepsLastValidDesiredState(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	write(t, filepath.Join(dir, "b.yaml"), "vm-b")
	rec := &recorder{}
	w := start(t, dir, rec, nil)
	i := rec.waitVMs(t, 0, "vm-a", "vm-b")

	write(t, filepath.Join(dir, "b.yaml"), "invalid now")
	waitFor(t, "status to show the diagnostic", func() bool {
		st := w.Status()
		return !st.Input.Valid && len(st.Input.Diagnostics) == 1 && st.LastRun != nil && st.LastRun.StartedAt.After(rec.snapshot()[i].at)
	})
	st := w.Status()
	if st.Input.ActingOn != "last-valid" || st.Input.Diagnostics[0].Rule != "test-invalid" {
		t.Fatalf("status input = %+v, want acting_on last-valid and the test-invalid diagnostic", st.Input)
	}
	// Every run since acted on the whole last valid state: never on a.yaml alone.
	runs := rec.snapshot()
	for _, r := range runs[i+1:] {
		if len(r.vms) != 2 {
			t.Fatalf("a run acted on a partial desired state: %+v", r)
		}
	}
	write(t, filepath.Join(dir, "b.yaml"), "vm-c")
	rec.waitVMs(t, i+1, "vm-a", "vm-c")
	waitFor(t, "status valid again", func() bool { s := w.Status(); return s.Input.Valid && len(s.Input.Diagnostics) == 0 })
}

func TestInvalidFromTheStartRunsNothing(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "invalid")
	rec := &recorder{}
	w := start(t, dir, rec, nil)
	waitFor(t, "the first run to be skipped", func() bool {
		st := w.Status()
		return st.LastRun != nil && st.LastRun.Result == watch.ResultSkipped
	})
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("reconcile ran %d times with no valid desired state", n)
	}
	if st := w.Status(); st.Input.ActingOn != "none" || st.Ready {
		t.Fatalf("status = %+v, want acting_on none and not ready", st)
	}
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	rec.waitVMs(t, 0, "vm-a")
}

func TestSaveByRename(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	write(t, a, "vm-a")
	rec := &recorder{}
	start(t, dir, rec, nil)
	i := rec.waitVMs(t, 0, "vm-a")

	t.Run("temp file renamed over", func(t *testing.T) {
		write(t, filepath.Join(dir, ".a.yaml.tmp"), "vm-b")
		if err := os.Rename(filepath.Join(dir, ".a.yaml.tmp"), a); err != nil {
			t.Fatal(err)
		}
		i = rec.waitVMs(t, i+1, "vm-b")
	})
	t.Run("vim: probe, backup by rename, write, drop backup", func(t *testing.T) {
		write(t, filepath.Join(dir, "4913"), "")
		os.Remove(filepath.Join(dir, "4913"))
		if err := os.Rename(a, a+"~"); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, ".a.yaml.swp"), "swap")
		write(t, a, "vm-c")
		os.Remove(a + "~")
		i = rec.waitVMs(t, i+1, "vm-c")
	})
}

// TestConfigMapDataSwap updates files the way the kubelet does: a new hidden
// timestamped folder, a new ..data symlink renamed over the old one, and
// top-level symlinks that point through ..data.
func TestConfigMapDataSwap(t *testing.T) {
	dir := t.TempDir()
	mustLink := func(target, link string) {
		t.Helper()
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "..2024_01_01_v1", "vms.yaml"), "vm-a")
	mustLink("..2024_01_01_v1", filepath.Join(dir, "..data"))
	mustLink(filepath.Join("..data", "vms.yaml"), filepath.Join(dir, "vms.yaml"))
	rec := &recorder{}
	start(t, dir, rec, nil)
	i := rec.waitVMs(t, 0, "vm-a") // the hidden folder itself is never read twice

	write(t, filepath.Join(dir, "..2024_01_02_v2", "vms.yaml"), "vm-b")
	mustLink("..2024_01_02_v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2024_01_01_v1")); err != nil {
		t.Fatal(err)
	}
	rec.waitVMs(t, i+1, "vm-b")
}

func TestRapidWritesCoalesce(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "vm-start")
	rec := &recorder{}
	const debounce = 200 * time.Millisecond
	start(t, dir, rec, func(o *watch.Options) { o.Debounce = debounce })
	i := rec.waitRun(t, 0, "at startup", func(r run) bool { return r.trigger == watch.TriggerStartup })
	for n := range 100 {
		write(t, filepath.Join(dir, "a.yaml"), "vm-"+strconv.Itoa(n))
	}
	rec.waitVMs(t, i+1, "vm-99")
	// Late events would start another run within one debounce: give them three.
	time.Sleep(3 * debounce)
	if n := len(rec.snapshot()) - (i + 1); n > 2 {
		t.Fatalf("100 rapid writes caused %d reconciles, want at most 2: %+v", n, rec.snapshot())
	}
}

func TestOneRunAtATimeAndTriggersCoalesce(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.yaml"), "vm-b")
	rec := &recorder{gate: make(chan struct{})}
	w := start(t, dir, rec, nil)
	rec.waitRun(t, 0, "at startup", func(r run) bool { return r.trigger == watch.TriggerStartup })

	// While the startup run is held: a signal, another signal, a file change.
	w.Resync()
	waitFor(t, "the first trigger to coalesce", func() bool { return w.Status().Coalesced >= 1 })
	w.Resync()
	waitFor(t, "the second trigger to coalesce", func() bool { return w.Status().Coalesced >= 2 })
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	waitFor(t, "the file trigger to coalesce", func() bool { return w.Status().Coalesced >= 3 })
	if st := w.Status(); st.Pending != watch.TriggerSignal || !st.Running {
		t.Fatalf("status = running %v pending %q, want running with a signal run pending", st.Running, st.Pending)
	}
	rec.gate <- struct{}{} // release the startup run
	rec.gate <- struct{}{} // and the single follow-up
	waitFor(t, "the follow-up to finish", func() bool { st := w.Status(); return st.Runs == 2 && !st.Running })
	runs := rec.snapshot()
	if len(runs) != 2 || runs[1].trigger != watch.TriggerSignal || len(runs[1].vms) != 2 {
		t.Fatalf("runs = %+v, want startup then one signal run that read vm-a", runs)
	}
	if st := w.Status(); st.Pending != "" {
		t.Fatalf("a run is still pending after the follow-up: %q", st.Pending)
	}
}

func TestPeriodicResyncAndRetry(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	rec := &recorder{fail: 1}
	start(t, dir, rec, func(o *watch.Options) {
		o.Interval = time.Second
		o.RetryDelay = 20 * time.Millisecond
	})
	i := rec.waitRun(t, 1, "retrying the failed startup run", func(r run) bool { return r.trigger == watch.TriggerRetry })
	rec.waitRun(t, i+1, "at the resync interval", func(r run) bool { return r.trigger == watch.TriggerResync })
}

func TestWatchedFolderDisappearsStopsAction(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "desired")
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	rec := &recorder{}
	w := start(t, dir, rec, nil)
	rec.waitVMs(t, 0, "vm-a")

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "status to report the missing folder", func() bool { return w.Status().FolderMissing })
	before := len(rec.snapshot())
	w.Resync() // even a forced resync takes no action
	waitFor(t, "the forced resync to be skipped", func() bool {
		st := w.Status()
		return st.LastRun.Trigger == watch.TriggerSignal && st.LastRun.Result == watch.ResultSkipped
	})
	if after := len(rec.snapshot()); after != before {
		t.Fatalf("reconcile ran %d times with the folder gone", after-before)
	}

	write(t, filepath.Join(dir, "b.yaml"), "vm-b")
	rec.waitVMs(t, before, "vm-b")
	if w.Status().FolderMissing {
		t.Fatal("status still says the folder is missing")
	}
	// The new folder is watched again.
	write(t, filepath.Join(dir, "b.yaml"), "vm-c")
	rec.waitVMs(t, before+1, "vm-c")
}

func TestRunRefusesMissingFolder(t *testing.T) {
	w, err := watch.New(watch.Options{Dir: filepath.Join(t.TempDir(), "nope"), Load: textLoad, Reconcile: (&recorder{}).reconcile})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(t.Context()); err == nil {
		t.Fatal("Run on a missing folder returned nil")
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := watch.Options{Dir: ".", Mode: watch.ModeCorrect, Load: textLoad, Reconcile: (&recorder{}).reconcile}
	for name, tc := range map[string]func(*watch.Options){
		"no dir":          func(o *watch.Options) { o.Dir = "" },
		"no reconcile":    func(o *watch.Options) { o.Reconcile = nil },
		"bad mode":        func(o *watch.Options) { o.Mode = "fix" },
		"tiny interval":   func(o *watch.Options) { o.Interval = time.Millisecond },
		"negative bounce": func(o *watch.Options) { o.Debounce = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			o := ok
			tc(&o)
			if err := o.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		"a.yaml": false, "4913": true, ".#a.yaml": true, "a.yaml~": true, ".a.yaml.swp": true,
		"a.yaml.tmp": true, "#a.yaml#": true, ".git": true, "..data": true, "..2024_01_01": true,
		"a.yaml.swx": true, "vms.yml": false, "a.yaml___jb_tmp___": true,
	} {
		if got := spec.Ignored(name); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", name, got, want)
		}
	}
}
