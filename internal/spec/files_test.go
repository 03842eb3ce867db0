package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func TestLoadWalksAndSkips(t *testing.T) {
	broken := "this: [is not read\n"
	dir := writeTree(t, map[string]string{
		"c.yaml":            clusterYAML,
		"sub/deeper/v.yml":  vmYAML("v1"),
		"README.md":         broken,
		".hidden.yaml":      broken,
		".git/config.yaml":  broken,
		".#v.yaml":          broken,
		"v.yaml~":           broken,
		".v.yaml.swp":       broken,
		"#v.yaml#":          broken,
		"sub/notes.txt":     broken,
		"sub/.tmp/x.yaml":   broken,
		"UPPER/UPPER.YAML":  vmYAML("v2"),
		"sub/deeper/x.json": broken,
	})
	d, ds := load(t, dir)
	if len(ds) != 0 {
		t.Fatalf("hidden or temporary files were read:\n%s", render(dir, ds))
	}
	if len(d.VMs) != 2 || len(d.Files) != 3 {
		t.Errorf("read %d VMs from %v, want 2 VMs from 3 files", len(d.VMs), d.Files)
	}
}

func TestLoadPaths(t *testing.T) {
	t.Run("stdin", func(t *testing.T) {
		d, ds := spec.Load(spec.LoadOptions{Paths: []string{"-"}, Stdin: strings.NewReader(clusterYAML + "---\n" + vmYAML("v1"))})
		if len(ds) != 0 || len(d.VMs) != 1 || d.Files[0] != spec.StdinName {
			t.Fatalf("stdin: %+v %v", ds, d)
		}
	})
	t.Run("stdin missing", func(t *testing.T) {
		_, ds := spec.Load(spec.LoadOptions{Paths: []string{"-"}})
		wantDiag(t, "", ds, spec.RuleFileUnreadable, spec.StdinName, 0, 0)
	})
	t.Run("no paths", func(t *testing.T) {
		d, ds := spec.Load(spec.LoadOptions{})
		if d != nil || !ds.HasErrors() || ds[0].Rule != spec.RuleNoYAMLFiles {
			t.Fatalf("no paths: %v %+v", d, ds)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		dir := t.TempDir()
		_, ds := load(t, filepath.Join(dir, "nope.yaml"))
		wantDiag(t, dir, ds, spec.RuleFileUnreadable, "nope.yaml", 0, 0)
	})
	t.Run("directory without YAML", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"README.md": "hi", ".x.yaml": clusterYAML})
		d, ds := load(t, dir)
		if d != nil || len(ds) != 1 || ds[0].Rule != spec.RuleNoYAMLFiles || ds[0].File != dir {
			t.Fatalf("want one no-yaml-files for %s, got %v:\n%s", dir, d, render(dir, ds))
		}
	})
	t.Run("explicit file with any name", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"desired.txt": clusterYAML})
		d, ds := load(t, filepath.Join(dir, "desired.txt"))
		if len(ds) != 0 || len(d.Clusters) != 1 {
			t.Fatalf("explicit file: %s", render(dir, ds))
		}
	})
	t.Run("same file twice", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"c.yaml": clusterYAML})
		_, ds := load(t, dir, filepath.Join(dir, "c.yaml"))
		if len(ds) != 0 {
			t.Fatalf("a file reached twice was read twice:\n%s", render(dir, ds))
		}
	})
	t.Run("file over the limit", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"big.yaml": clusterYAML + "# " + strings.Repeat("x", 4<<20) + "\n", "c.yaml": clusterYAML})
		_, ds := load(t, dir)
		wantDiag(t, dir, ds, spec.RuleFileTooLarge, "big.yaml", 0, 0)
		_, ds = spec.Load(spec.LoadOptions{Paths: []string{filepath.Join(dir, "c.yaml")}, MaxFileSize: 10})
		wantDiag(t, dir, ds, spec.RuleFileTooLarge, "c.yaml", 0, 0)
		_, ds = spec.Load(spec.LoadOptions{Paths: []string{"-"}, Stdin: strings.NewReader(clusterYAML), MaxFileSize: 10})
		wantDiag(t, dir, ds, spec.RuleFileTooLarge, spec.StdinName, 0, 0)
	})
}

func TestLoadSymlinks(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": clusterYAML, "dir/v.yaml": vmYAML("v9")})
	root := writeTree(t, map[string]string{"c.yaml": clusterYAML, "real/v.yaml": vmYAML("v1")})
	other := writeTree(t, map[string]string{"v2.yaml": vmYAML("v2")})
	links := map[string]string{
		"out.yaml":     filepath.Join(outside, "secret.yaml"),
		"outdir":       filepath.Join(outside, "dir"),
		"in.yaml":      filepath.Join(root, "real", "v.yaml"), // same file as real/v.yaml: read once
		"other.yaml":   filepath.Join(other, "v2.yaml"),       // inside another given root: allowed
		"dangling.yml": filepath.Join(root, "missing.yaml"),
		"loop":         root, // a directory symlink back into the root: not walked twice
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("symlinks not available: %v", err)
		}
	}
	d, ds := load(t, root, other)
	wantDiag(t, root, ds, spec.RuleSymlinkOutsideRoot, "out.yaml", 0, 0)
	wantDiag(t, root, ds, spec.RuleSymlinkOutsideRoot, "outdir", 0, 0)
	wantDiag(t, root, ds, spec.RuleFileUnreadable, "dangling.yml", 0, 0)
	if len(ds) != 3 {
		t.Errorf("want exactly the three diagnostics, got:\n%s", render(root, ds))
	}
	for _, v := range d.VMs {
		if v.Name == "v9" {
			t.Error("a VM was read through a directory symlink leading outside the roots")
		}
	}
	if len(d.VMs) != 2 {
		t.Errorf("VMs = %d, want v1 and v2", len(d.VMs))
	}
}

func TestLoadUnreadable(t *testing.T) {
	t.Run("FIFO", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"c.yaml": clusterYAML})
		if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		_, ds := load(t, dir) // must not block on the pipe
		wantDiag(t, dir, ds, spec.RuleFileUnreadable, "pipe.yaml", 0, 0)
	})
	t.Run("directory named like YAML", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"c.yaml": clusterYAML, "d.yaml/v.yaml": vmYAML("v1")})
		d, ds := load(t, dir)
		if len(ds) != 0 || len(d.VMs) != 1 {
			t.Errorf("a directory named *.yaml should be walked: %s", render(dir, ds))
		}
	})
	t.Run("chmod 000", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root, which reads files whatever their mode; the dangling-symlink and FIFO cases cover unreadable files for root")
		}
		dir := writeTree(t, map[string]string{"c.yaml": clusterYAML, "locked.yaml": clusterYAML, "lockdir/v.yaml": vmYAML("v")})
		if err := os.Chmod(filepath.Join(dir, "locked.yaml"), 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "lockdir"), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "lockdir"), 0o755) })
		_, ds := load(t, dir)
		wantDiag(t, dir, ds, spec.RuleFileUnreadable, "locked.yaml", 0, 0)
		wantDiag(t, dir, ds, spec.RuleFileUnreadable, "lockdir", 0, 0)
	})
}
