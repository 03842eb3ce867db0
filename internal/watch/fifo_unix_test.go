//go:build unix

package watch_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestWatchReportsFIFO is issue 14 item 2's last case: the watch ignored a
// FIFO named like YAML (validate reports it) and acted on the rest. Now the
// read reports file-unreadable without opening it, and nothing is acted on.
func TestWatchReportsFIFO(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "cluster.yaml"), clusterYAML)
	if err := syscall.Mkfifo(filepath.Join(root, "pipe.yaml"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	rec := &recorder{}
	w := startPipelineLoad(t, root, rec)
	waitInput(t, w, spec.RuleFileUnreadable, "pipe.yaml")
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("%d runs acted on a tree holding a FIFO", n)
	}
}
