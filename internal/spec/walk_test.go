package spec_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks not available: %v", err)
	}
}

// TestWalkSymlinkedFolders is issue 14 item 2. Before the shared walker, a
// symlinked subfolder was skipped without a word: `validate` said "valid… 0
// VMs" for desired/team-a -> ../outside/team-a and apply --prune deleted its
// VMs; a link to a folder inside the root was skipped too, and a root given as
// a symlink was read fully only because Load stats it first.
func TestWalkSymlinkedFolders(t *testing.T) {
	t.Run("inside the root: followed", func(t *testing.T) {
		root := writeTree(t, map[string]string{"c.yaml": clusterYAML, ".shared/team-a/v.yaml": vmYAML("v1")})
		symlink(t, ".shared/team-a", filepath.Join(root, "team-a"))
		d, ds := load(t, root)
		if len(ds) != 0 || d == nil || len(d.VMs) != 1 {
			t.Fatalf("VMs behind a link inside the root were not read: %v\n%s", d, render(root, ds))
		}
		if want := filepath.Join(root, "team-a", "v.yaml"); !slices.Contains(d.Files, want) {
			t.Errorf("files = %v, want %s (named by the link)", d.Files, want)
		}
	})
	t.Run("outside the root: refused, not dropped", func(t *testing.T) {
		base := t.TempDir()
		root := filepath.Join(base, "desired")
		writeFileT(t, filepath.Join(root, "c.yaml"), clusterYAML)
		writeFileT(t, filepath.Join(base, "outside", "team-a", "v.yaml"), vmYAML("v1"))
		symlink(t, "../outside/team-a", filepath.Join(root, "team-a"))
		_, ds := load(t, root)
		wantDiag(t, root, ds, spec.RuleSymlinkOutsideRoot, "team-a", 0, 0)
		if !ds.HasErrors() {
			t.Fatal("a folder of VMs outside the root was dropped without an error")
		}
	})
	t.Run("dangling folder link: reported", func(t *testing.T) {
		root := writeTree(t, map[string]string{"c.yaml": clusterYAML})
		symlink(t, "gone", filepath.Join(root, "team-b"))
		_, ds := load(t, root)
		wantDiag(t, root, ds, spec.RuleFileUnreadable, "team-b", 0, 0)
	})
	t.Run("the root is a symlink", func(t *testing.T) {
		real := writeTree(t, map[string]string{"c.yaml": clusterYAML, "sub/v.yaml": vmYAML("v1")})
		root := filepath.Join(t.TempDir(), "desired")
		symlink(t, real, root)
		d, ds := load(t, root)
		if len(ds) != 0 || d == nil || len(d.VMs) != 1 {
			t.Fatalf("a symlinked root was not walked: %v\n%s", d, render(root, ds))
		}
		files, fds := spec.Files(root)
		if len(fds) != 0 || !slices.Equal(files, d.Files) {
			t.Errorf("Files(%s) = %v %v, want what Load read: %v", root, files, fds, d.Files)
		}
	})
	t.Run("a link loop ends", func(t *testing.T) {
		root := writeTree(t, map[string]string{"c.yaml": clusterYAML, "a/v.yaml": vmYAML("v1")})
		symlink(t, "..", filepath.Join(root, "a", "up"))
		d, ds := load(t, root)
		if len(ds) != 0 || d == nil || len(d.VMs) != 1 {
			t.Fatalf("loop: %v\n%s", d, render(root, ds))
		}
	})
}

// TestFilesMatchesLoad: the list watch acts on is the list Load reads, with
// the same diagnostics for what it refuses.
func TestFilesMatchesLoad(t *testing.T) {
	root := writeTree(t, map[string]string{"c.yaml": clusterYAML, "real/v.yaml": vmYAML("v1"), ".x.yaml": "x", "notes.txt": "x"})
	outside := writeTree(t, map[string]string{"v.yaml": vmYAML("v9")})
	symlink(t, "real", filepath.Join(root, "linked"))
	symlink(t, filepath.Join(outside, "v.yaml"), filepath.Join(root, "out.yaml"))
	symlink(t, "missing.yaml", filepath.Join(root, "dangling.yaml"))
	d, lds := load(t, root)
	files, fds := spec.Files(root)
	if !slices.Equal(files, d.Files) {
		t.Errorf("Files = %v, Load read %v", files, d.Files)
	}
	if render(root, fds) != render(root, lds) {
		t.Errorf("Files diagnostics:\n%s\nLoad diagnostics:\n%s", render(root, fds), render(root, lds))
	}
	for _, rule := range []struct{ rule, file string }{
		{spec.RuleSymlinkOutsideRoot, "out.yaml"}, {spec.RuleFileUnreadable, "dangling.yaml"},
	} {
		wantDiag(t, root, fds, rule.rule, rule.file, 0, 0)
	}
}

func writeFileT(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
