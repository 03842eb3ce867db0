package armspec_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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

// spec loads the spec for one test; loading is quick enough (BenchmarkLoad) not to share.
func spec(t *testing.T) *armspec.Spec {
	t.Helper()
	s, err := armspec.Load(bundleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoad(t *testing.T) {
	s := spec(t)
	ops := s.Operations()
	if len(ops) < 50 {
		t.Fatalf("only %d operations loaded", len(ops))
	}
	for _, want := range []string{
		"PUT /{resourceUri}/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default VirtualMachineInstances_CreateOrUpdate",
		"PUT /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.HybridCompute/machines/{machineName} Machines_CreateOrUpdate",
		"GET /providers/Microsoft.AzureStackHCI/operations Operations_List",
	} {
		if !slices.Contains(ops, want) {
			t.Errorf("operation %q not loaded", want)
		}
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

func TestLoadMissingBundle(t *testing.T) {
	_, err := armspec.Load(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "virtualMachineInstances.json") {
		t.Fatalf("Load of an empty folder: %v; want an error naming the missing file", err)
	}
}
