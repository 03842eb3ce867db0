package hypervfake_test

import (
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/drivertest"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
)

// testRef is a three-node Azure Local cluster with an image store.
func testRef() drivers.ClusterRef {
	return drivers.ClusterRef{
		Name: "hci-west", Driver: hyperv.Name, Nodes: []string{"node2", "node1", "node3"},
		Options: map[string]any{
			"transport": "ssh",
			"imageStore": map[string]any{
				"microsoftwindowsdesktop/windows-11/win11-22h2-avd/22621.2428.231001": `C:\ClusterStorage\Images\win11-22h2-avd.vhdx`,
			},
			"vmPath": `C:\ClusterStorage\Volume1\VMs`,
		},
	}
}

// newDriver returns a hyperv driver whose every node is served by one fake host.
func newDriver(t testing.TB, ref drivers.ClusterRef, o hypervfake.Options) (*hyperv.Driver, *hypervfake.Host) {
	t.Helper()
	host, err := hypervfake.New(t.TempDir(), ref, o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := hyperv.New(drivers.Config{StateDir: t.TempDir()}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) {
		return host.Transport(), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d, host
}

func TestContract(t *testing.T) {
	var hosts sync.Map // *hyperv.Driver -> *hypervfake.Host
	host := func(t *testing.T, d drivers.Driver) *hypervfake.Host {
		t.Helper()
		h, ok := hosts.Load(d)
		if !ok {
			t.Fatal("driver without a fake host")
		}
		return h.(*hypervfake.Host)
	}
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) (drivers.Driver, drivers.ClusterRef) {
			ref := testRef()
			d, h := newDriver(t, ref, hypervfake.Options{Noise: true})
			hosts.Store(d, h)
			return d, ref
		},
		SetAgent: func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, node string, state drivers.AgentState) {
			t.Helper()
			if err := host(t, d).Sim().SetAgent(ref.Name, node, state); err != nil {
				t.Fatal(err)
			}
		},
		Reopen: func(t *testing.T, d drivers.Driver) drivers.Driver {
			t.Helper()
			h := host(t, d)
			fresh, err := hyperv.New(drivers.Config{StateDir: t.TempDir()}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) {
				return h.Transport(), nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = fresh.Close() })
			return fresh
		},
		SetNotes: func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm, notes string) {
			t.Helper()
			if err := host(t, d).SetNotes(t.Context(), vm, notes); err != nil {
				t.Fatal(err)
			}
		},
		Notes: func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm string) string {
			t.Helper()
			n, err := host(t, d).Notes(t.Context(), vm)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}
