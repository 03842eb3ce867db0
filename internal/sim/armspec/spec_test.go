package armspec_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

// bundleRoot is the azure-rest-api-specs folder, found from this file's place in the repository
// (internal/sim/armspec → ../../../../shared/testdata/azure-rest-api-specs).
func bundleRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot locate the test file")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "testdata", "azure-rest-api-specs")
	if _, err := os.Stat(filepath.Join(root, "specification")); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("azure-rest-api-specs bundle missing at %s (required when CI is set): %v", root, err)
		}
		tb.Skipf("azure-rest-api-specs bundle not at %s: %v", root, err)
	}
	return root
}

var (
	loadOnce sync.Once
	loaded   *armspec.Spec
	loadErr  error
)

// spec is the loaded spec, shared by the tests of this package (loading takes a while).
func spec(t *testing.T) *armspec.Spec {
	t.Helper()
	root := bundleRoot(t)
	loadOnce.Do(func() { loaded, loadErr = armspec.Load(root) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

func TestLoad(t *testing.T) {
	s := spec(t)
	ops := s.Operations()
	if len(ops) < 50 {
		t.Fatalf("only %d operations loaded", len(ops))
	}
	for _, o := range ops {
		t.Log(o)
	}
}

func BenchmarkLoad(b *testing.B) {
	root := bundleRoot(b)
	for b.Loop() {
		if _, err := armspec.Load(root); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = context.Background
