package watch

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestEditorTemporaryFilesNeverTrigger feeds the real fsnotify events of each
// file operation to relevant, so "ignored" is checked event by event rather
// than by waiting for a run that does not come.
func TestEditorTemporaryFilesNeverTrigger(t *testing.T) {
	dir := t.TempDir()
	tr, err := newTree(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	// next returns whether any event of the operation was relevant; the
	// operation ends with a write to a marker the filter ignores too, so
	// reading up to the marker's event drains exactly this operation's events.
	n := 0
	next := func(op func()) bool {
		t.Helper()
		op()
		n++
		marker := filepath.Join(dir, fmt.Sprintf(".marker-%d", n))
		if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		seen := false
		deadline := time.After(5 * time.Second)
		for {
			select {
			case ev := <-tr.fw.Events:
				if ev.Name == marker && ev.Has(fsnotify.Create) {
					return seen
				}
				if tr.relevant(ev) {
					seen = true
				}
			case err := <-tr.fw.Errors:
				t.Fatal(err)
			case <-deadline:
				t.Fatal("no marker event within 5s")
			}
		}
	}
	w := func(name string) func() {
		return func() {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{".#a.yaml", "a.yaml~", ".a.yaml.swp", "4913", "a.yaml.tmp", "#a.yaml#", "notes.txt"} {
		if next(w(name)) {
			t.Errorf("writing %s triggered a run", name)
		}
	}
	if next(func() { os.Chmod(filepath.Join(dir, "notes.txt"), 0o600) }) {
		t.Error("a chmod triggered a run")
	}
	if next(func() { os.Mkdir(filepath.Join(dir, ".git"), 0o755) }) {
		t.Error("a hidden folder triggered a run")
	}
	if tr.dirs[filepath.Join(dir, ".git")] {
		t.Error("a hidden folder is watched")
	}
	if !next(w("a.yaml")) {
		t.Error("writing a.yaml did not trigger a run")
	}
	if !next(func() { os.Mkdir(filepath.Join(dir, "sub"), 0o755) }) || !tr.dirs[filepath.Join(dir, "sub")] {
		t.Error("a new folder did not trigger a run or is not watched")
	}
	if !next(func() { os.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "sub2")) }) {
		t.Error("renaming a folder did not trigger a run")
	}
	if tr.dirs[filepath.Join(dir, "sub")] || !tr.dirs[filepath.Join(dir, "sub2")] {
		t.Errorf("watched folders after a rename = %v", tr.dirs)
	}
}
