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

// TestE2EContract runs the drivers contract suite against a real Windows Server Hyper-V
// cluster: go test -tags hyperv_e2e -run E2E ./internal/drivers/hyperv/ with
//
//	TLR_E2E_NODES         comma-separated node names (at least 2), e.g. node1,node2
//	TLR_E2E_OPTIONS       the Cluster's driver options as JSON, e.g.
//	                      {"transport":"ssh","user":"svc-tlr","identityFile":"~/.ssh/id_ed25519","vmPath":"C:\\ClusterStorage\\Volume1\\tlr-e2e"}
//	TLR_E2E_CLUSTER       a name for the cluster (default e2e)
//	TLR_E2E_ALLOW_SHARED  1: run although the cluster holds VMs this run did not create
//
// The suite's VMs are named with a unique prefix and carry the managed marker; cleanup (also
// after a failed step) deletes only those, and the IPsec rules it added are removed from the
// nodes that had none. It refuses a cluster holding other VMs unless TLR_E2E_ALLOW_SHARED=1.
// Every node's IGVmAgent must run. The agent scenarios are skipped: they stop a service.
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
	ref := drivers.ClusterRef{Name: name, Driver: hyperv.Name, Nodes: nodes, Options: opts}
	prefix := hyperv.E2EPrefix()
	probe, err := hyperv.New(drivers.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	obs, err := probe.Observe(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := hyperv.E2ECheckShared(obs, prefix, os.Getenv(hyperv.E2EAllowSharedEnv)); err != nil {
		t.Fatal(err)
	}
	ipsecBefore := hyperv.E2EIPsecBefore(obs)
	t.Cleanup(func() {
		if err := probe.E2ERestoreIPsec(context.Background(), ref, ipsecBefore); err != nil {
			t.Errorf("restore IPsec: %v (remove the tlreconcile-live-migration-* rules by hand)", err)
		}
		_ = probe.Close()
	})
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) (drivers.Driver, drivers.ClusterRef) {
			d, err := hyperv.New(drivers.Config{StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				// t.Context is already cancelled when cleanups run.
				if err := hyperv.E2ECleanup(context.Background(), d, ref, prefix); err != nil {
					t.Errorf("cleanup: %v (remove VMs named %s* by hand)", err, prefix)
				}
				_ = d.Close()
			})
			return hyperv.E2EDriver{Driver: d, Prefix: prefix}, ref
		},
		Reopen: func(t *testing.T, _ drivers.Driver) drivers.Driver {
			d, err := hyperv.New(drivers.Config{StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Close() })
			return hyperv.E2EDriver{Driver: d, Prefix: prefix}
		},
		Parallel: 2,
	})
}
