package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// TestARMWalk drives the cluster only through the simulated ARM over HTTPS,
// as the azurelocal driver will, and checks what the owner node shows after
// each step, the resource bridge VM included.
func TestARMWalk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	h := openHost(t, dir, cluster.Options{Clusters: []cluster.Spec{
		{Name: "c1", CustomLocation: arm.DefaultCustomLocation, Nodes: []string{"node1", "node2"}},
		{Name: "c2", CustomLocation: "/subscriptions/" + sub + "/resourceGroups/sim/providers/Microsoft.ExtendedLocation/customLocations/c2", Nodes: []string{"n1"}},
	}})
	a := startARM(t, dir, h)
	before := bridge(t, observe(t, h, "c1"))

	a.createVM("avd-01")
	vmID, _ := a.do(200, "GET", vmiPath("avd-01")+hciAPI, nil).prop("properties.vmId").(string)
	vm := vmByName(t, observe(t, h, "c1"), "avd-01")
	if vm.VMID != vmID || vm.GuestStateIsolationType != "TrustedLaunch" || !vm.KeyPresent || vm.Identity == "" ||
		vm.Power != cluster.PowerRunning || !vm.ACLRestricted || vm.Node == "" || !vm.Managed {
		t.Fatalf("after create: %+v (ARM vmId %s)", vm, vmID)
	}
	identity := vm.Identity

	a.mustLRO(202, "POST", vmiPath("avd-01")+"/stop"+hciAPI, nil)
	if got := vmByName(t, observe(t, h, "c1"), "avd-01"); got.Power != cluster.PowerOff || got.Identity != identity {
		t.Fatalf("after stop: %+v", got)
	}
	a.mustLRO(202, "POST", vmiPath("avd-01")+"/start"+hciAPI, nil)
	if got := vmByName(t, observe(t, h, "c1"), "avd-01"); got.Power != cluster.PowerRunning || got.Identity != identity || got.Resets != 0 {
		t.Fatalf("after stop/start the vTPM changed: %+v, want identity %s", got, identity)
	}

	if err := h.FailNode(ctx, "c1", vm.Node); err != nil {
		t.Fatal(err)
	}
	moved := vmByName(t, observe(t, h, "c1"), "avd-01")
	if moved.Node == vm.Node || moved.Power != cluster.PowerRunning || moved.Identity != identity {
		t.Fatalf("after failing %s: %+v, want it running elsewhere with identity %s", vm.Node, moved, identity)
	}
	if err := h.RecoverNode(ctx, "c1", vm.Node); err != nil {
		t.Fatal(err)
	}

	if err := h.MoveVM(ctx, vmID, cluster.Target{Cluster: "c2", Node: "n1"}, false); err != nil {
		t.Fatal(err)
	}
	restored := vmByName(t, observe(t, h, "c2"), "avd-01")
	if restored.Identity == "" || restored.Identity == identity || restored.Resets != 1 || !restored.KeyPresent || restored.KeyFingerprint == vm.KeyFingerprint {
		t.Fatalf("restored without its key: %+v, want a new key and a new identity (old %s)", restored, identity)
	}

	a.mustLRO(202, "DELETE", vmiPath("avd-01")+hciAPI, nil)
	if _, err := h.VM(ctx, vmID); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	for _, c := range []string{"c1", "c2"} {
		for _, p := range []string{filepath.Join(dir, "cluster", c, "storage", vmID),
			filepath.Join(dir, "cluster", c, "keyvault", cluster.KeyVaultName, cluster.KeyGroup, vmID+".key")} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after delete %s is still there (%v)", p, err)
			}
		}
	}
	after := bridge(t, observe(t, h, "c1"))
	if after.VMID != before.VMID || after.Power != cluster.PowerRunning || after.Managed {
		t.Fatalf("resource bridge VM changed: before %+v, after %+v", before, after)
	}
}

// TestResourceBridgeRefusesEveryChange: every mutating call naming the Arc
// resource bridge VM fails with ErrInfrastructure and leaves it as it was.
func TestResourceBridgeRefusesEveryChange(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	before := bridge(t, observe(t, h, "sim-cluster"))
	id := before.VMID
	calls := map[string]func() error{
		"StartVM":                 func() error { return h.StartVM(ctx, id) },
		"StopVM":                  func() error { return h.StopVM(ctx, id) },
		"RestartVM":               func() error { return h.RestartVM(ctx, id) },
		"DeleteVM":                func() error { return h.DeleteVM(ctx, id) },
		"SetHardware":             func() error { return h.SetHardware(ctx, id, arm.Hardware{Processors: 8}) },
		"RunCommand":              func() error { _, err := h.RunCommand(ctx, arm.RunCommandRequest{VMID: id}); return err },
		"MoveVM":                  func() error { return h.MoveVM(ctx, id, cluster.Target{Node: "node2"}, true) },
		"DeleteKey":               func() error { return h.DeleteKey(ctx, id) },
		"GrantStateFileAccess":    func() error { return h.GrantStateFileAccess(ctx, id, cluster.PrincipalAllVMs) },
		"RestrictStateFileAccess": func() error { return h.RestrictStateFileAccess(ctx, id) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, cluster.ErrInfrastructure) {
				t.Fatalf("%s on the resource bridge: %v, want ErrInfrastructure", name, err)
			}
		})
	}
	after := bridge(t, observe(t, h, "sim-cluster"))
	if after.VMID != before.VMID || after.Power != before.Power || after.Node != before.Node || after.Processors != before.Processors {
		t.Fatalf("resource bridge VM changed: before %+v, after %+v", before, after)
	}
}
