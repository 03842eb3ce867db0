package watch_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// appendFile writes the next part of a file in place, as a slow writer (scp,
// a shell redirect, an editor without save-by-rename) does.
func appendFile(t *testing.T, path, part string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(part); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitHeldOrRun waits until the watcher says it waits for the files to settle,
// or a run at index from or later acted on bad, which is the defect.
func waitHeldOrRun(t *testing.T, w *watch.Watcher, rec *recorder, from int, bad []string) {
	t.Helper()
	waitFor(t, "the watcher to hold the half-written file", func() bool {
		for _, r := range rec.snapshot()[from:] {
			if slices.Equal(r.vms, bad) {
				t.Fatalf("a run acted on the half-written file: %+v", r)
			}
		}
		return w.Status().Waiting != ""
	})
}

// TestHalfWrittenFileLosingVMsWaits is issue 14 item 1. Before the fix, a file
// rewritten in two parts with a pause longer than the debounce (1.2 s with the
// default 500 ms) was read after its first part: valid YAML that simply ends
// early, so the run dropped the VMs of the unwritten tail (with --prune
// --allow-destructive: deleted them, and recreated them with new vTPMs a
// second later). Here that run is the one with [vm-a] alone; now the loss
// waits for Settle and the tail arrives first.
func TestHalfWrittenFileLosingVMsWaits(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pool.yaml")
	write(t, f, "vm-a\nvm-b\nvm-c\n")
	rec := &recorder{}
	w := start(t, dir, rec, func(o *watch.Options) { o.Settle = watch.DefaultSettle })
	i := rec.waitVMs(t, 0, "vm-a", "vm-b", "vm-c")
	waitFor(t, "the startup run to finish", func() bool { st := w.Status(); return st.Runs > 0 && !st.Running })

	if err := os.Truncate(f, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, f, "vm-a\n")
	waitHeldOrRun(t, w, rec, i+1, []string{"vm-a"})
	appendFile(t, f, "vm-b\nvm-c\n")
	waitFor(t, "the wait to end", func() bool { st := w.Status(); return st.Waiting == "" && st.Runs > 1 && !st.Running })
	for _, r := range rec.snapshot()[i+1:] {
		if !slices.Equal(r.vms, []string{"vm-a", "vm-b", "vm-c"}) {
			t.Fatalf("a run acted on part of the file: %+v", r)
		}
	}
}

// TestRemovedVMsAreActedOnAfterSettle: a real removal still takes effect, one
// Settle after the file last changed.
func TestRemovedVMsAreActedOnAfterSettle(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	write(t, filepath.Join(dir, "b.yaml"), "vm-b vm-c")
	rec := &recorder{}
	const settle = 400 * time.Millisecond
	w := start(t, dir, rec, func(o *watch.Options) { o.Settle = settle })
	i := rec.waitVMs(t, 0, "vm-a", "vm-b", "vm-c")
	writeAtomic(t, filepath.Join(dir, "b.yaml"), "vm-b")
	removed := time.Now()
	j := rec.waitVMs(t, i+1, "vm-a", "vm-b")
	if got := rec.snapshot()[j].at.Sub(removed); got < settle-50*time.Millisecond {
		t.Fatalf("the loss of vm-c was acted on %s after the edit, want at least Settle (%s)", got, settle)
	}
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	rec.waitVMs(t, j+1, "vm-a")
	if w.Status().Waiting != "" {
		t.Fatalf("still waiting after the removal was acted on: %q", w.Status().Waiting)
	}
}

// TestFileIsReadOnlyWhenQuiet: a run that does not wait for the debounce (a
// resync, SIGHUP) still reads a file only once it has been quiet for the
// debounce. Before the fix the forced run read the file between its two parts
// and acted on [vm-a vm-b1].
func TestFileIsReadOnlyWhenQuiet(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "vm-a")
	rec := &recorder{}
	w := start(t, dir, rec, func(o *watch.Options) { o.Debounce = 2 * time.Second })
	i := rec.waitVMs(t, 0, "vm-a")
	waitFor(t, "the startup run to finish", func() bool { st := w.Status(); return st.Runs > 0 && !st.Running })

	b := filepath.Join(dir, "b.yaml")
	appendFile(t, b, "vm-b1\n")
	w.Resync()
	waitHeldOrRun(t, w, rec, i+1, []string{"vm-a", "vm-b1"})
	appendFile(t, b, "vm-b2\n")
	j := rec.waitVMs(t, i+1, "vm-a", "vm-b1", "vm-b2")
	for _, r := range rec.snapshot()[i+1 : j] {
		t.Fatalf("a run acted on the file while it was written: %+v", r)
	}
}
