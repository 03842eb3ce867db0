package armspec_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

// spec loads the spec for one test; loading is quick enough (BenchmarkLoad) not to share.
func spec(t *testing.T) *armspec.Spec {
	t.Helper()
	return armspec.LoadForTest(t)
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
	root := armspec.BundleRoot(b)
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
