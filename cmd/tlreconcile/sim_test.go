package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simCLI runs `tlreconcile --state-dir DIR ARGS...` in process through cobra,
// with the binary's own drivers (driver: sim is the embedded Azure Local).
func simCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errb)
	cmd.SetArgs(append([]string{"--state-dir", dir, "--no-color"}, args...))
	err := cmd.ExecuteContext(context.Background())
	if errb.Len() > 0 {
		t.Logf("stderr of %s: %s", strings.Join(args, " "), errb.String())
	}
	return out.String(), err
}

func mustSimCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := simCLI(t, dir, args...)
	if err != nil {
		t.Fatalf("tlreconcile %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// simPlatformVM reads one VM as `sim platform --format json` shows it.
func simPlatformVM(t *testing.T, dir, vm string) view.SimPlatformVM {
	t.Helper()
	var doc view.SimPlatformDoc
	if err := json.Unmarshal([]byte(mustSimCLI(t, dir, "sim", "show", "--format", "json")), &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Clusters {
		for _, v := range c.VMs {
			if v.Name == vm {
				return v
			}
		}
	}
	t.Fatalf("sim show: no VM %s", vm)
	return view.SimPlatformVM{}
}

const simCLIDesired = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: hci-west}
spec:
  nodes: [node1, node2, node3]
  liveMigration: {encryption: none}
---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: web-01, cluster: hci-west}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  placement: {node: node1}
`

// TestSimCLIEndToEnd runs the incidents the demo tells through the real
// commands on driver: sim: init ahead of the first plan, a drift the next
// plan explains, a failover that keeps the vTPM identity, one that loses it
// (vtpm-state-lost), and show as the alias of platform.
func TestSimCLIEndToEnd(t *testing.T) {
	dir, desired := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(desired, "vms.yaml"), []byte(simCLIDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustSimCLI(t, dir, "sim", "init", "-f", desired); out != "cluster/hci-west: created (nodes node1, node2, node3)\n" {
		t.Fatalf("sim init: %q", out)
	}
	if out := mustSimCLI(t, dir, "sim", "init", "--cluster", "hci-west", "--nodes", "node1,node2,node3"); out != "cluster/hci-west: exists already (nodes node1, node2, node3)\n" {
		t.Fatalf("second sim init: %q", out)
	}
	if out := mustSimCLI(t, dir, "sim", "init", "--cluster", "hci-west", "--nodes", "n7"); !strings.Contains(out, "exists already (nodes node1, node2, node3); not the nodes asked for (n7)") {
		t.Fatalf("sim init with other nodes: %q", out)
	}
	mustSimCLI(t, dir, "apply", "-f", desired, "--auto-approve")
	before := simPlatformVM(t, dir, "web-01")
	if before.Node != "node1" || before.VTPMIdentity == "" || !before.TrustedLaunch {
		t.Fatalf("after apply: %+v", before)
	}

	if out := mustSimCLI(t, dir, "sim", "drift", "--vm", "web-01", "--set", "secureBoot=false"); out != "vm/web-01: drifted secureBoot=false\n" {
		t.Fatalf("drift: %q", out)
	}
	if out, _ := simCLI(t, dir, "plan", "-f", desired); !strings.Contains(out, "secure") {
		t.Errorf("the plan after the drift does not mention Secure Boot:\n%s", out)
	}
	mustSimCLI(t, dir, "apply", "-f", desired, "--auto-approve")

	out := mustSimCLI(t, dir, "sim", "failover", "--vm", "web-01", "--to", "node3")
	if !strings.Contains(out, "vm/web-01: moved node1 -> node3 with its guest state key: vTPM kept") {
		t.Fatalf("failover: %q", out)
	}
	if after := simPlatformVM(t, dir, "web-01"); after.Node != "node3" || after.VTPMIdentity != before.VTPMIdentity {
		t.Fatalf("after the failover %+v, want node3 and identity %s", after, before.VTPMIdentity)
	}
	mustSimCLI(t, dir, "sim", "failover", "--vm", "web-01", "--to", "node2", "--lose-vtpm")
	lost := simPlatformVM(t, dir, "web-01")
	if lost.VTPMIdentity == before.VTPMIdentity || lost.VTPMResets == 0 {
		t.Fatalf("after --lose-vtpm %+v, want a new identity", lost)
	}
	if out, _ := simCLI(t, dir, "plan", "-f", desired); !strings.Contains(out, "vtpm-state-lost") {
		t.Errorf("the plan after a lost vTPM does not report vtpm-state-lost:\n%s", out)
	}
}

// TestSimCLIValidate: every control refuses bad flags before it opens the
// platform, naming the fix.
func TestSimCLIValidate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sim", "init", "--cluster", "c"}, "--nodes"},
		{[]string{"sim", "init", "-f", "x.yaml", "--cluster", "c"}, "not both"},
		{[]string{"sim", "drift", "--vm", "v"}, "--set"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "oops"}, "FIELD=VALUE"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "secureBoot=maybe"}, "true or false"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "processors=8"}, "sim portal-edit --vm NAME --set processors=8"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "power=Paused"}, "Running or Off"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "fileAccess=ok"}, "violation"},
		{[]string{"sim", "drift", "--vm", "v", "--set", "tpmEnabled=false"}, `unknown field "tpmEnabled"`},
		{[]string{"sim", "failover", "--vm", "v"}, "--to"},
		{[]string{"sim", "show", "--format", "yaml"}, "text or json"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := simCLI(t, dir, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused control wrote the state dir: %v", ents)
	}
}

// TestSimDriftNamesWhatApplied: settings apply in order; the first the
// platform refuses stops the rest, and the error says which did apply.
func TestSimDriftNamesWhatApplied(t *testing.T) {
	dir, desired := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(desired, "vms.yaml"), []byte(simCLIDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSimCLI(t, dir, "apply", "-f", desired, "--auto-approve")
	// Secure Boot goes off while the VM runs (the incident), but Hyper-V
	// turns it back on only while the VM is Off: the third setting never runs.
	_, err := simCLI(t, dir, "sim", "drift", "--vm", "web-01", "--set", "secureBoot=false", "--set", "secureBoot=true", "--set", "power=Off")
	if err == nil || !strings.Contains(err.Error(), "--set secureBoot=true") || !strings.Contains(err.Error(), "(secureBoot=false did apply)") {
		t.Fatalf("error %v, want the refused re-enable and that secureBoot=false applied", err)
	}
	if v := simPlatformVM(t, dir, "web-01"); v.Power != "Running" {
		t.Fatalf("after the refused drift: %+v", v)
	}
	if out, _ := simCLI(t, dir, "plan", "-f", desired); !strings.Contains(out, "secure") {
		t.Errorf("the applied part of the drift is not in the plan:\n%s", out)
	}
}
