package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

const attestedDesired = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: hci-sim}
spec:
  nodes: [node1, node2]
  liveMigration: {encryption: none}
---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: tl-01, cluster: hci-sim}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  placement: {node: node1}
  attestation:
    interval: 24h
    require: {secureBoot: true}
`

// planFindings plans in process and returns the plan and its findings by rule.
func planFindings(t *testing.T, state, dir string) (*plan.Plan, map[string]plan.Finding) {
	t.Helper()
	out, err := simCLI(t, state, "plan", "-f", dir, "--format", "json")
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	by := map[string]plan.Finding{}
	for _, f := range p.Findings {
		if f.Resource == "vm/tl-01" {
			by[f.Rule] = f
		}
	}
	return &p, by
}

func hasStep(p *plan.Plan, id string) bool {
	for _, c := range p.Changes {
		for _, s := range c.Steps {
			if s.ID == id {
				return true
			}
		}
	}
	return false
}

// TestAttestationOnTheEmbeddedSim is issue 12's acceptance on the sim, through
// the CLI: the guest agent in the simulated guest attests after create; a
// failover with the key keeps the EK (the identity) and attests again on the
// new node; a tampered boot is boot-integrity-violation; a failover without
// the key is vtpm-state-lost; a guest without the agent is
// attestation-unavailable and nothing else changes.
func TestAttestationOnTheEmbeddedSim(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vm.yaml"), []byte(attestedDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve")
	if !strings.Contains(out, "vm/tl-01/attest: done") {
		t.Fatalf("no attest step ran:\n%s", out)
	}
	p, f := planFindings(t, state, dir)
	if len(p.Changes) != 0 || len(f) != 0 {
		t.Fatalf("after the verified attestation: changes %+v, findings %+v", p.Changes, f)
	}
	id := simPlatformVM(t, state, "tl-01").VTPMIdentity

	mustSimCLI(t, state, "sim", "failover", "--vm", "tl-01", "--to", "node2")
	if p, _ := planFindings(t, state, dir); !hasStep(p, "vm/tl-01/attest") {
		t.Fatalf("a failover must attest again: %+v", p.Changes)
	}
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve")
	if got := simPlatformVM(t, state, "tl-01").VTPMIdentity; got != id {
		t.Fatalf("the failover with the key changed the EK: %s -> %s", id, got)
	}
	if _, f := planFindings(t, state, dir); len(f) != 0 {
		t.Fatalf("after the failover with the key: %+v", f)
	}

	// A boot component planted, then a restart: the next attestation shows it.
	mustSimCLI(t, state, "sim", "tamper-boot", "--vm", "tl-01", "--component", `\EFI\evil\bootkit.efi`)
	mustSimCLI(t, state, "sim", "drift", "--vm", "tl-01", "--set", "power=Off")
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve")
	_, f = planFindings(t, state, dir)
	if v, ok := f[plan.RuleBootIntegrityViolation]; !ok || !strings.Contains(v.Message, `\EFI\evil\bootkit.efi`) {
		t.Fatalf("a tampered boot: findings %+v, want boot-integrity-violation naming the component", f)
	}

	// No agent in the guest: unavailable, and nothing else is planned.
	mustSimCLI(t, state, "sim", "guest-agent", "--vm", "tl-01", "--remove")
	mustSimCLI(t, state, "sim", "failover", "--vm", "tl-01", "--to", "node2")
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve") // back to node1, attested: unavailable
	p, f = planFindings(t, state, dir)
	if _, ok := f[plan.RuleAttestationUnavailable]; !ok || len(p.Changes) != 0 {
		t.Fatalf("without the agent: findings %+v, changes %+v; want attestation-unavailable and nothing else", f, p.Changes)
	}

	// The key lost in a failover: a new vTPM, vtpm-state-lost.
	mustSimCLI(t, state, "sim", "guest-agent", "--vm", "tl-01", "--install")
	mustSimCLI(t, state, "sim", "failover", "--vm", "tl-01", "--to", "node2", "--lose-vtpm")
	if _, f := planFindings(t, state, dir); f[plan.RuleVTPMStateLost].Rule == "" {
		t.Fatalf("a failover without the key: findings %+v, want vtpm-state-lost", f)
	}
	// Applied without accepting it: the attestation refuses the new vTPM's EK (the accepted
	// identity is pinned), so the guest's answers count for nothing until it is accepted.
	_, _ = simCLI(t, state, "apply", "-f", dir, "--auto-approve")
	if _, f := planFindings(t, state, dir); !strings.Contains(f[plan.RuleBootIntegrityViolation].Message, "ek-mismatch") {
		t.Fatalf("an attestation from another EK: findings %+v, want boot-integrity-violation (ek-mismatch)", f)
	}
	mustSimCLI(t, state, "sim", "failover", "--vm", "tl-01", "--to", "node2") // attest again once accepted
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve", "--accept-vtpm-identity", "vm/tl-01")
	p, f = planFindings(t, state, dir)
	v := f[plan.RuleBootIntegrityViolation].Message
	if len(p.Changes) != 0 || len(f) != 1 || strings.Contains(v, "ek-mismatch") || !strings.Contains(v, `\EFI\evil\bootkit.efi`) {
		t.Fatalf("after accepting the new vTPM: findings %+v, changes %+v; want it attested (only the planted boot component, still in its boot chain, is left)", f, p.Changes)
	}
}

// TestAttestationCutShortByTheChannel: a Run Command that keeps only the last
// 4,096 bytes of the agent's answer (Azure's instance view of a VM run command
// does) is attestation-unavailable with what to do, not a boot integrity
// violation; the vTPM identity (a short answer) still reads, and the next
// attestation after the limit is gone verifies again.
func TestAttestationCutShortByTheChannel(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vm.yaml"), []byte(attestedDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve")
	id := simPlatformVM(t, state, "tl-01").VTPMIdentity

	out := mustSimCLI(t, state, "sim", "arm-fault", "--operation", "MachineRunCommands_CreateOrUpdate", "--output-limit", "4096")
	if !strings.Contains(out, "run command output cut to its last 4096 bytes") {
		t.Fatalf("arm-fault says:\n%s", out)
	}
	mustSimCLI(t, state, "sim", "failover", "--vm", "tl-01", "--to", "node2")
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve") // back to node1, attested: cut short
	p, f := planFindings(t, state, dir)
	u, ok := f[plan.RuleAttestationUnavailable]
	if !ok || len(f) != 1 || len(p.Changes) != 0 || !strings.Contains(u.Message, "output-unreadable") || !strings.Contains(u.Message, "attest verify evidence.json") {
		t.Fatalf("a cut-short answer: findings %+v, changes %+v; want only attestation-unavailable saying what to do", f, p.Changes)
	}
	if got := simPlatformVM(t, state, "tl-01").VTPMIdentity; got != id {
		t.Fatalf("the identity changed: %s -> %s", id, got)
	}

	mustSimCLI(t, state, "sim", "arm-fault", "--clear")
	mustSimCLI(t, state, "sim", "failover", "--vm", "tl-01", "--to", "node2")
	mustSimCLI(t, state, "apply", "-f", dir, "--auto-approve")
	if p, f := planFindings(t, state, dir); len(f) != 0 || len(p.Changes) != 0 {
		t.Fatalf("without the limit: findings %+v, changes %+v; want a verified attestation again", f, p.Changes)
	}
}
