package hvmodel_test

import (
	"os"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/drivertest"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// needSwtpm skips without swtpm, except in CI, where a missing swtpm fails.
func needSwtpm(t testing.TB) {
	t.Helper()
	if err := vtpm.SwtpmAvailable(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skipf("%v (install it to run the swtpm backend tests)", err)
	}
}

// harness runs the contract suite on a fresh state dir per scenario.
func harness(backend string) drivertest.Harness {
	return drivertest.Harness{
		New: func(t *testing.T) (drivers.Driver, drivers.ClusterRef) {
			d := newDriver(t)
			return d, drivers.ClusterRef{Name: "hci-test", Driver: hvmodel.Name, Nodes: []string{"node2", "node1", "node3"}, Options: map[string]any{"vtpmBackend": backend}}
		},
		Reopen: func(t *testing.T, d drivers.Driver) drivers.Driver {
			t.Helper()
			fresh, err := hvmodel.New(drivers.Config{StateDir: d.(*hvmodel.Driver).StateDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = fresh.Close() })
			return fresh
		},
		SetAgent: func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, node string, state drivers.AgentState) {
			t.Helper()
			if err := d.(*hvmodel.Driver).SetAgent(ref.Name, node, state); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func newDriver(t testing.TB) *hvmodel.Driver {
	t.Helper()
	d, err := hvmodel.New(drivers.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestContractReference(t *testing.T) {
	drivertest.Run(t, harness(hvmodel.BackendReference))
}

func TestContractSwtpm(t *testing.T) {
	needSwtpm(t)
	h := harness(hvmodel.BackendSwtpm)
	h.Parallel = 4
	drivertest.Run(t, h)
}
