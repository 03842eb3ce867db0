//go:build unix

package spec_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestFilesRefusesFIFOLikeLoad: a FIFO in a folder is the same diagnostic for
// Files (watch) as for Load (validate), and neither opens it.
func TestFilesRefusesFIFOLikeLoad(t *testing.T) {
	root := writeTree(t, map[string]string{"c.yaml": clusterYAML})
	if err := syscall.Mkfifo(filepath.Join(root, "pipe.yaml"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	d, lds := load(t, root)
	files, fds := spec.Files(root)
	if !slices.Equal(files, d.Files) || render(root, fds) != render(root, lds) {
		t.Fatalf("Files = %v\n%s\nLoad = %v\n%s", files, render(root, fds), d.Files, render(root, lds))
	}
	wantDiag(t, root, fds, spec.RuleFileUnreadable, "pipe.yaml", 0, 0)
}

// TestLoadNamedFIFONeverBlocks is issue 14 item 7: `validate -f pipe` opened
// the FIFO for reading and blocked forever (no writer ever came). Now a FIFO
// or device is refused by its mode without being opened.
func TestLoadNamedFIFONeverBlocks(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		done := make(chan spec.Diagnostics, 1)
		go func() {
			_, ds := load(t, path)
			done <- ds
		}()
		select {
		case ds := <-done:
			wantDiag(t, dir, ds, spec.RuleFileUnreadable, filepath.Base(path), 0, 0)
		case <-time.After(10 * time.Second):
			// Unblock the reader so the test binary can end.
			if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				f.Close()
			}
			t.Fatalf("Load(%s) still blocked after 10s", path)
		}
	}
}
