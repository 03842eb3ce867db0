package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimPortalEdit: a size edited in the portal (ARM and the cluster both changed behind
// tlreconcile's back) is drift the next plan explains and apply puts back; the platform's
// rule that a running VM keeps its processor count holds, and a bad --set changes nothing.
func TestSimPortalEdit(t *testing.T) {
	dir, desired := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(desired, "vms.yaml"), []byte(simCLIDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSimCLI(t, dir, "apply", "-f", desired, "--auto-approve")
	want := simPlatformVM(t, dir, "web-01")

	out := mustSimCLI(t, dir, "sim", "portal-edit", "--vm", "web-01", "--set", "memoryMB=12288")
	if !strings.Contains(out, "vm/web-01: edited in the portal: ") || !strings.Contains(out, "memoryMB 4096 -> 12288") {
		t.Fatalf("portal-edit: %q", out)
	}
	if got := simPlatformVM(t, dir, "web-01"); got.MemoryMB != 12288 {
		t.Fatalf("the cluster's VM has %d MB after the edit", got.MemoryMB)
	}
	if out, _ := simCLI(t, dir, "plan", "-f", desired); !strings.Contains(out, "memoryMB is 12288, want 4096") {
		t.Fatalf("the plan after the edit does not explain it:\n%s", out)
	}
	mustSimCLI(t, dir, "apply", "-f", desired, "--auto-approve")
	if got := simPlatformVM(t, dir, "web-01"); got.MemoryMB != want.MemoryMB {
		t.Errorf("apply left %d MB, want %d", got.MemoryMB, want.MemoryMB)
	}
	if out, _ := simCLI(t, dir, "plan", "-f", desired); !strings.Contains(out, "No changes:") {
		t.Errorf("after apply:\n%s", out)
	}

	out, err := simCLI(t, dir, "sim", "portal-edit", "--vm", "web-01", "--set", "processors=8")
	if err == nil || !strings.Contains(err.Error(), "running VM's processor count cannot change") {
		t.Errorf("processors of a running VM: %v\n%s", err, out)
	}
	for _, bad := range []string{"processors=0", "memoryMB=lots", "secureBoot=false", "processors"} {
		if out, err := simCLI(t, dir, "sim", "portal-edit", "--vm", "web-01", "--set", bad); err == nil {
			t.Errorf("--set %s accepted:\n%s", bad, out)
		}
	}
	if out, err := simCLI(t, dir, "sim", "drift", "--vm", "web-01", "--set", "memoryMB=1024"); err == nil || !strings.Contains(err.Error(), "sim portal-edit") {
		t.Errorf("sim drift memoryMB does not point to portal-edit: %v\n%s", err, out)
	}
	if got := simPlatformVM(t, dir, "web-01"); got.MemoryMB != want.MemoryMB || got.Processors != want.Processors {
		t.Errorf("a refused edit changed the VM: %+v", got)
	}
}
