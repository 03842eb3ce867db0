package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// TestAttestationOnClassicHyperV is issue 12's acceptance on classic Hyper-V, through the
// CLI: the hyperv driver reaches the guest by PowerShell Direct (attest.ps1) with the guest
// credential from the environment, and the fake host runs the real agent against the VM's
// vTPM. A verified attestation after the create; a failover with the key attests again on the
// new node with the same EK; a tampered boot is boot-integrity-violation; a guest without the
// agent is attestation-unavailable and nothing else changes; a failover without the key is
// vtpm-state-lost. The password is in no output and no file of the state dir.
func TestAttestationOnClassicHyperV(t *testing.T) {
	const user, password = `CONTOSO\svc-attest`, "Gu3st-pa55!word"
	t.Setenv("TLR_GUEST_PASSWORD", password)
	dir, state := t.TempDir(), t.TempDir()
	desired := strings.Replace(hypervfake.DesiredYAML, "  options:\n", "  options:\n    guestCredential:\n      user: 'CONTOSO\\svc-attest'\n      password: {fromEnv: TLR_GUEST_PASSWORD}\n", 1)
	desired = strings.Replace(desired, "  power: Running\n", "  power: Running\n  placement: {node: node1}\n  attestation:\n    require: {secureBoot: true}\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "desired.yaml"), []byte(desired), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := drivers.ClusterRef{Name: "hv", Driver: hyperv.Name, Nodes: []string{"node1", "node2", "node3"}}
	host, err := hypervfake.New(t.TempDir(), ref, hypervfake.Options{GuestUser: user, GuestPassword: password})
	if err != nil {
		t.Fatal(err)
	}
	reg := hypervfake.Registry(host)
	var printed strings.Builder
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, drivers: reg})
		root.SetArgs(append([]string{"--state-dir", state, "--no-color"}, args...))
		err := root.Execute()
		printed.WriteString(out.String() + errOut.String())
		if err != nil && !strings.Contains(err.Error(), "exit status") {
			t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	findings := func() (*plan.Plan, map[string]plan.Finding) {
		t.Helper()
		var p plan.Plan
		if err := json.Unmarshal([]byte(run("plan", "-f", dir, "--format", "json")), &p); err != nil {
			t.Fatal(err)
		}
		by := map[string]plan.Finding{}
		for _, f := range p.Findings {
			if f.Resource == "vm/tl-01" {
				by[f.Rule] = f
			}
		}
		return &p, by
	}
	apply := func() string { t.Helper(); return run("apply", "-f", dir, "--auto-approve") }
	ctx := t.Context()
	simRef := drivers.ClusterRef{Name: "hv", Driver: "sim", Nodes: ref.Nodes}

	if out := apply(); !strings.Contains(out, "vm/tl-01/attest: done") {
		t.Fatalf("no attest step ran:\n%s", out)
	}
	if p, f := findings(); len(p.Changes) != 0 || len(f) != 0 {
		t.Fatalf("after the verified attestation: changes %+v, findings %+v", p.Changes, f)
	}
	notes, _ := host.Notes(ctx, "tl-01")
	first, _ := hyperv.NotesAttestation(notes)
	if first == nil || first.Result != drivers.AttestVerified || first.Node != "node1" || first.EK == "" {
		t.Fatalf("the record in the Notes: %+v", first)
	}

	if _, err := host.Sim().Failover(ctx, "hv", "tl-01", "node2", false); err != nil {
		t.Fatal(err)
	}
	if p, _ := findings(); !hasStep(p, "vm/tl-01/attest") {
		t.Fatalf("a failover must attest again: %+v", p.Changes)
	}
	apply()
	notes, _ = host.Notes(ctx, "tl-01")
	if moved, _ := hyperv.NotesAttestation(notes); moved == nil || moved.EK != first.EK || moved.Time.Before(first.Time) {
		t.Fatalf("after the failover with the key: %+v, want the same EK %s", moved, first.EK)
	}
	if _, f := findings(); len(f) != 0 {
		t.Fatalf("after the failover with the key: %+v", f)
	}

	if err := host.Sim().TamperBoot("hv", "tl-01", `\EFI\evil\bootkit.efi`); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Sim().Apply(ctx, simRef, drivers.Op{Kind: drivers.OpStopVM, Cluster: "hv", VM: "tl-01"}); err != nil {
		t.Fatal(err)
	}
	apply() // starts it again (the boot measures the component) and attests
	if _, f := findings(); !strings.Contains(f[plan.RuleBootIntegrityViolation].Message, `\EFI\evil\bootkit.efi`) {
		t.Fatalf("a tampered boot: findings %+v, want boot-integrity-violation naming the component", f)
	}
	// Accepted in the YAML (a reviewed change of the boot chain): no violation any more.
	notes, _ = host.Notes(ctx, "tl-01")
	tampered, _ := hyperv.NotesAttestation(notes)
	accepted := strings.Replace(desired, "    require: {secureBoot: true}\n", "    require: {secureBoot: true}\n    acceptBoot: ["+tampered.Boot+"]\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "desired.yaml"), []byte(accepted), 0o644); err != nil {
		t.Fatal(err)
	}
	apply() // the spec hash changed: set-annotations
	if _, f := findings(); len(f) != 0 {
		t.Fatalf("after acceptBoot: findings %+v", f)
	}

	host.RemoveGuestAgent("tl-01")
	if _, err := host.Sim().Failover(ctx, "hv", "tl-01", "node2", false); err != nil {
		t.Fatal(err)
	}
	apply() // attested on node2: unavailable
	if p, f := findings(); f[plan.RuleAttestationUnavailable].Rule == "" || len(p.Changes) != 0 {
		t.Fatalf("without the agent: findings %+v, changes %+v; want attestation-unavailable and nothing else", f, p.Changes)
	}

	host.InstallGuestAgent("tl-01")
	if _, err := host.Sim().Failover(ctx, "hv", "tl-01", "node3", true); err != nil {
		t.Fatal(err)
	}
	if _, f := findings(); f[plan.RuleVTPMStateLost].Rule == "" {
		t.Fatalf("a failover without the key: findings %+v, want vtpm-state-lost", f)
	}

	if strings.Contains(printed.String(), password) {
		t.Error("the guest password was printed")
	}
	_ = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(password)) {
				t.Errorf("%s holds the guest password", p)
			}
		}
		return nil
	})
}
