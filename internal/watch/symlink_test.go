package watch_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// startPipelineLoad watches dir with the real Pipeline.Load (spec.Load, as
// validate reads) and the counting reconciler.
func startPipelineLoad(t *testing.T, dir string, rec *recorder) *watch.Watcher {
	t.Helper()
	p := &watch.Pipeline{}
	return start(t, dir, rec, func(o *watch.Options) { o.Load = p.Load })
}

func link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Skipf("symlinks not available: %v", err)
	}
}

// waitInput waits until a read of the tree holds a diagnostic of rule for a
// file named base, and returns the status.
func waitInput(t *testing.T, w *watch.Watcher, rule, base string) watch.Status {
	t.Helper()
	var st watch.Status
	waitFor(t, rule+" for "+base, func() bool {
		st = w.Status()
		for _, d := range st.Input.Diagnostics {
			if d.Rule == rule && filepath.Base(d.File) == base {
				return true
			}
		}
		return false
	})
	return st
}

// TestWatchFollowsSymlinksAsValidate is issue 14 item 2, with real fsnotify
// watches and real links. Before the fix the watch had a walker of its own
// that did not follow folder links and followed file links anywhere: a
// symlinked root reconciled an empty desired state forever, a linked folder
// inside the root was dropped, and a file linked from outside the root was
// read although validate refuses it.
func TestWatchFollowsSymlinksAsValidate(t *testing.T) {
	t.Run("the root is a symlink", func(t *testing.T) {
		real := t.TempDir()
		write(t, filepath.Join(real, "cluster.yaml"), clusterYAML)
		write(t, filepath.Join(real, "pool", "avd-01.yaml"), vmYAML("avd-01", 2))
		root := filepath.Join(t.TempDir(), "desired")
		link(t, real, root)
		rec := &recorder{}
		startPipelineLoad(t, root, rec)
		i := rec.waitVMs(t, 0, "avd-01")
		writeAtomic(t, filepath.Join(real, "pool", "avd-02.yaml"), vmYAML("avd-02", 2)) // seen through the watch on the target
		i = rec.waitVMs(t, i+1, "avd-01", "avd-02")

		// The link is pointed at another folder, as `ln -sfn` or a deploy does.
		next := t.TempDir()
		write(t, filepath.Join(next, "cluster.yaml"), clusterYAML)
		write(t, filepath.Join(next, "avd-05.yaml"), vmYAML("avd-05", 2))
		link(t, next, root+".new")
		if err := os.Rename(root+".new", root); err != nil {
			t.Fatal(err)
		}
		i = rec.waitVMs(t, i+1, "avd-05")
		writeAtomic(t, filepath.Join(next, "avd-06.yaml"), vmYAML("avd-06", 2)) // the new target is watched
		rec.waitVMs(t, i+1, "avd-05", "avd-06")
	})
	t.Run("a linked folder inside the root", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "cluster.yaml"), clusterYAML)
		write(t, filepath.Join(root, ".teams", "a", "avd-01.yaml"), vmYAML("avd-01", 2))
		write(t, filepath.Join(root, ".teams", "b", "avd-02.yaml"), vmYAML("avd-02", 2))
		link(t, filepath.Join(".teams", "a"), filepath.Join(root, "team-a"))
		rec := &recorder{}
		startPipelineLoad(t, root, rec)
		i := rec.waitVMs(t, 0, "avd-01")
		writeAtomic(t, filepath.Join(root, ".teams", "a", "avd-03.yaml"), vmYAML("avd-03", 2)) // behind the link, below a hidden folder: watched too
		i = rec.waitVMs(t, i+1, "avd-01", "avd-03")
		link(t, filepath.Join(".teams", "b"), filepath.Join(root, "team-b")) // a new link alone triggers a run
		i = rec.waitVMs(t, i+1, "avd-01", "avd-02", "avd-03")
		if err := os.Remove(filepath.Join(root, "team-b")); err != nil { // and so does its removal
			t.Fatal(err)
		}
		rec.waitVMs(t, i+1, "avd-01", "avd-03")
	})
	t.Run("links leading outside the root are refused", func(t *testing.T) {
		base := t.TempDir()
		root := filepath.Join(base, "desired")
		write(t, filepath.Join(root, "cluster.yaml"), clusterYAML)
		write(t, filepath.Join(root, "avd-01.yaml"), vmYAML("avd-01", 2))
		write(t, filepath.Join(base, "outside", "team-a", "avd-02.yaml"), vmYAML("avd-02", 2))
		write(t, filepath.Join(base, "outside", "avd-09.yaml"), vmYAML("avd-09", 2))
		rec := &recorder{}
		w := startPipelineLoad(t, root, rec)
		i := rec.waitVMs(t, 0, "avd-01")
		link(t, "../outside/team-a", filepath.Join(root, "team-a"))
		link(t, "../outside/avd-09.yaml", filepath.Join(root, "avd-09.yaml"))
		st := waitInput(t, w, spec.RuleSymlinkOutsideRoot, "team-a")
		waitInput(t, w, spec.RuleSymlinkOutsideRoot, "avd-09.yaml")
		if st.Input.ActingOn != "last-valid" {
			t.Fatalf("acting_on = %q, want last-valid", st.Input.ActingOn)
		}
		for _, r := range rec.snapshot()[i+1:] {
			if len(r.vms) != 1 {
				t.Fatalf("a run read through a link outside the root, or dropped a VM: %+v", r)
			}
		}
	})
	t.Run("a file that becomes a dangling link", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "cluster.yaml"), clusterYAML)
		write(t, filepath.Join(root, ".store", "avd-01.yaml"), vmYAML("avd-01", 2))
		write(t, filepath.Join(root, "avd-02.yaml"), vmYAML("avd-02", 2))
		link(t, filepath.Join(".store", "avd-01.yaml"), filepath.Join(root, "avd-01.yaml"))
		rec := &recorder{}
		w := startPipelineLoad(t, root, rec)
		i := rec.waitVMs(t, 0, "avd-01", "avd-02")
		if err := os.Remove(filepath.Join(root, ".store", "avd-01.yaml")); err != nil {
			t.Fatal(err)
		}
		writeAtomic(t, filepath.Join(root, "avd-02.yaml"), vmYAML("avd-02", 4)) // the hidden store is not watched: an edit triggers the read
		st := waitInput(t, w, spec.RuleFileUnreadable, "avd-01.yaml")
		if st.Input.ActingOn != "last-valid" {
			t.Fatalf("acting_on = %q, want last-valid", st.Input.ActingOn)
		}
		for _, r := range rec.snapshot()[i+1:] {
			if len(r.vms) != 2 {
				t.Fatalf("a run dropped the VM of the dangling link: %+v", r)
			}
		}
	})
}

// TestWatchEmptyFolderIsNotReady is issue 14 item 17: before, a folder without
// YAML was a valid, empty desired state: the run observed nothing, /readyz
// said ready and nothing was reported, while validate calls it an error.
func TestWatchEmptyFolderIsNotReady(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "README.md"), "not YAML")
	rec := &recorder{}
	w := startPipelineLoad(t, root, rec)
	waitInput(t, w, spec.RuleNoYAMLFiles, filepath.Base(root))
	code, body := serve(t, w, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, spec.RuleNoYAMLFiles) {
		t.Fatalf("/readyz = %d %q, want 503 naming %s", code, body, spec.RuleNoYAMLFiles)
	}
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("%d runs acted on a folder without YAML", n)
	}
}

func serve(t *testing.T, w *watch.Watcher, path string) (int, string) {
	t.Helper()
	rr := httptest.NewRecorder()
	w.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, path, nil))
	return rr.Code, rr.Body.String()
}
