package plan_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestHostFacts: what a host reports about itself becomes findings, not steps.
//   - A VM whose report failed (observe.ps1 caught one cmdlet throwing for it, issue 13 item 5)
//     is an error finding naming the host's error, with no step for it, declared or not; the
//     other VMs are planned as usual.
//   - A node whose live migration uses SMB (Get-VMHost VirtualMachineMigrationPerformanceOption
//     SMB, learn.microsoft.com/powershell/module/hyper-v/set-vmhost) cannot be protected by
//     IPsec, since SMB Direct bypasses TCP/IP (Azure Local network-atc.md): without SMB
//     encryption (Get-SmbServerConfiguration EncryptData) it is a warning and never an IPsec
//     step; with it, nothing (issue 13 item 9).
func TestHostFacts(t *testing.T) {
	broken := func(name string) drivers.VM {
		return drivers.VM{Name: name, ID: "id-" + name, Node: "node1", Power: drivers.PowerOther, ObserveError: "Get-VMFirmware : The operation failed"}
	}
	smb := func(enc bool) []drivers.Node {
		n := healthyNodes()
		n[1].MigrationIPsec, n[1].MigrationTransport, n[1].MigrationSMBEncrypted = false, drivers.MigrationTransportSMB, enc
		return n
	}
	tests := []struct {
		name     string
		d        *spec.Desired
		o        map[string]*drivers.Observed
		findings []string // rule resource: a message fragment
		noStepOn string
	}{
		{name: "declared VM whose report failed", d: desiredOf(clusterSpec(), vmSpec("a"), vmSpec("b", func(v *spec.VM) { v.Processors = 8 })),
			o:        observedOf(healthyNodes(), broken("a"), synced(vmSpec("b"), "node1", "ek1")),
			findings: []string{"vm-observe-failed vm/a: Get-VMFirmware"}, noStepOn: "vm/a"},
		{name: "undeclared VM whose report failed", d: desiredOf(clusterSpec()),
			o:        observedOf(healthyNodes(), broken("x")),
			findings: []string{"vm-observe-failed vm/x: Get-VMFirmware"}, noStepOn: "vm/x"},
		{name: "SMB transport without SMB encryption", d: desiredOf(clusterSpec()), o: observedOf(smb(false)),
			findings: []string{plan.RuleLiveMigrationUnencrypted + " node/node2: Set-SmbServerConfiguration -EncryptData"}, noStepOn: "node/node2"},
		{name: "SMB transport with SMB encryption", d: desiredOf(clusterSpec()), o: observedOf(smb(true)), noStepOn: "node/node2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustBuild(t, tc.d, tc.o, plan.Options{})
			var got []string
			for _, f := range p.Findings {
				got = append(got, f.Rule+" "+f.Resource+": "+f.Message)
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.findings {
				rule, frag, _ := strings.Cut(w, ": ")
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, rule+": ") && strings.Contains(g, frag)
				}
				if !found {
					t.Errorf("no finding %q with %q in:\n%s", rule, frag, all)
				}
			}
			if len(tc.findings) == 0 && strings.Contains(all, plan.RuleLiveMigrationUnencrypted) {
				t.Errorf("unexpected finding:\n%s", all)
			}
			for _, ch := range p.Changes {
				for _, s := range ch.Steps {
					if strings.HasPrefix(s.ID, tc.noStepOn+"/") {
						t.Errorf("step %s planned:\n%s", s.ID, render(p))
					}
				}
			}
		})
	}
	// The healthy VM beside a broken one is still planned.
	p := mustBuild(t, tests[0].d, tests[0].o, plan.Options{})
	if findStep(p, "vm/b/set-processor") == nil {
		t.Errorf("the healthy VM beside a broken one got no set-processor:\n%s", render(p))
	}
}
