//go:build hyperv_e2e

package hyperv_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/drivertest"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

// TestE2EContract runs the drivers contract suite against a real Hyper-V / Azure Local
// cluster: go test -tags hyperv_e2e -run E2E ./internal/drivers/hyperv/ with
//
//	TLR_E2E_NODES    comma-separated node names (at least 2), e.g. node1,node2
//	TLR_E2E_OPTIONS  the Cluster's driver options as JSON, e.g.
//	                 {"transport":"ssh","user":"svc-tlr","identityFile":"~/.ssh/id_ed25519","vmPath":"C:\\ClusterStorage\\Volume1\\tlr-e2e"}
//	TLR_E2E_CLUSTER  a name for the cluster (default e2e)
//
// The cluster must hold no VMs (the suite starts from an empty cluster) and every node's
// IGVmAgent must run. The agent scenarios are skipped: they need to stop a node's service.
func TestE2EContract(t *testing.T) {
	nodes := strings.Split(os.Getenv("TLR_E2E_NODES"), ",")
	if len(nodes) < 2 || nodes[0] == "" {
		t.Fatal("set TLR_E2E_NODES to at least two comma-separated node names")
	}
	var opts map[string]any
	if err := json.Unmarshal([]byte(os.Getenv("TLR_E2E_OPTIONS")), &opts); err != nil {
		t.Fatalf("TLR_E2E_OPTIONS: %v (want the Cluster's driver options as a JSON object)", err)
	}
	name := os.Getenv("TLR_E2E_CLUSTER")
	if name == "" {
		name = "e2e"
	}
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) (drivers.Driver, drivers.ClusterRef) {
			d, err := hyperv.New(drivers.Config{StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			ref := drivers.ClusterRef{Name: name, Driver: hyperv.Name, Nodes: nodes, Options: opts}
			t.Cleanup(func() { cleanupVMs(t, d, ref) })
			return d, ref
		},
		Parallel: 2,
	})
}

// cleanupVMs removes the VMs a scenario left, so the next one starts from an empty cluster.
func cleanupVMs(t *testing.T, d *hyperv.Driver, ref drivers.ClusterRef) {
	ctx := context.Background() // t.Context is already cancelled when cleanups run
	if obs, err := d.Observe(ctx, ref); err == nil {
		for _, vm := range obs.VMs {
			_, _ = d.Apply(ctx, ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: ref.Name, VM: vm.Name})
			if _, err := d.Apply(ctx, ref, drivers.Op{Kind: drivers.OpDeleteVM, Cluster: ref.Name, VM: vm.Name}); err != nil {
				t.Logf("cleanup: %v (remove it by hand)", err)
			}
		}
	}
	_ = d.Close()
}
