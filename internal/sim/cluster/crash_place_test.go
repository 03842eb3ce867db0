package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// TestPlaceVMRepeated: ARM repeats PlaceVM for a machine when a kill came
// between the cluster's answer and ARM's record of it (or inside PlaceVM).
// However the first call ended, the repeat leaves exactly one VM for the
// machine, with one key and one guest state file, and a VM the first call
// committed is the one the repeat returns.
func TestPlaceVMRepeated(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, killAt string // "" : the first call completes
		committed    bool   // the first call's VM is the one that stays
	}{
		{"completed", "", true},
		{"killed after the key", "key", false},
		{"killed after the state file", "state", false},
		{"killed after the record", "record", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCrashEnv(t)
			h := e.open()
			if tc.killAt != "" {
				killAt(h, tc.killAt)
			}
			req := arm.PlaceRequest{MachineID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.HybridCompute/machines/avd-01",
				CustomLocation: arm.DefaultCustomLocation, Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096},
				Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}}
			first, err := h.PlaceVM(ctx, req)
			if (tc.killAt != "") != errors.Is(err, errKilled) || (tc.killAt == "" && err != nil) {
				t.Fatalf("first place: %v", err)
			}
			h2 := e.open()                                                                                        // the next process: repairs what the kill left
			req.MachineID = "/SUBSCRIPTIONS/s/resourcegroups/g/providers/Microsoft.HybridCompute/machines/AVD-01" // ARM IDs ignore case
			again, err := h2.PlaceVM(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var committed arm.Placement
			if tc.killAt == "" {
				committed = first
			} else if recs, _ := h2.records(""); tc.committed {
				for _, r := range recs {
					if r.Managed {
						committed = arm.Placement{Node: r.Node, VMID: r.VMID}
					}
				}
			}
			if tc.committed && again != committed {
				t.Fatalf("repeat placed %+v, want the committed %+v", again, committed)
			}
			e.consistent(h2)
			recs, err := h2.records("")
			if err != nil {
				t.Fatal(err)
			}
			vms := 0
			for _, r := range recs {
				if r.Managed {
					vms++
				}
			}
			keys, _ := filepath.Glob(filepath.Join(e.dir, "cluster", "*", "keyvault", KeyVaultName, KeyGroup, "*.key"))
			if vms != 1 || len(keys) != 1 {
				t.Fatalf("%d VMs and keys %v after the repeat, want one of each", vms, keys)
			}
			if vm, err := h2.VM(ctx, again.VMID); err != nil || vm.Identity == "" {
				t.Fatalf("the placed VM does not read: %+v %v", vm, err)
			}
		})
	}
}
