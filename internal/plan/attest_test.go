package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func TestAttestDue(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	d := &spec.VM{Attestation: &spec.Attestation{Enabled: true, Interval: "24h"}}
	rec := func(age time.Duration, node string) *drivers.VM {
		return &drivers.VM{Node: "n1", Attestation: &drivers.Attested{Time: now.Add(-age), Result: drivers.AttestVerified, Node: node}}
	}
	tests := []struct {
		name  string
		o     *drivers.VM
		moves bool
		want  string // "" not due
	}{
		{"new VM", nil, true, "new VM"},
		{"never attested", &drivers.VM{Node: "n1"}, false, "never attested"},
		{"fresh", rec(time.Hour, "n1"), false, ""},
		{"older than the interval", rec(25*time.Hour, "n1"), false, "older than attestation.interval 24h0m0s"},
		{"moved since", rec(time.Hour, "n2"), false, "attested on node n2, now on node n1"},
		{"this change starts or moves it", rec(time.Hour, "n1"), true, "starts or moves"},
	}
	for _, tt := range tests {
		got := attestDue(d, tt.o, now, tt.moves)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := attestDue(&spec.VM{Attestation: &spec.Attestation{Enabled: true, Interval: "soon"}}, rec(25*time.Hour, "n1"), now, false); !strings.Contains(got, "24h") {
		t.Errorf("an unparsable interval falls back to 24h: %q", got)
	}
}

func TestAttestFindings(t *testing.T) {
	yes, no := true, false
	req := spec.AttestationRequires{SecureBoot: &yes, VBS: "running", TestSigning: &no}
	tests := []struct {
		name string
		a    *drivers.Attested
		want []string
	}{
		{"verified and as required", &drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &yes, VBSRunning: &yes, TestSigning: &no, Boot: "b", Baseline: "b"}, nil},
		{"Secure Boot off", &drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &no}, []string{RuleSecureBootNotEnforced}},
		{"VBS off, test signing on", &drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &yes, VBSRunning: &no, TestSigning: &yes},
			[]string{RuleVBSNotRunning, RuleBootIntegrityViolation}},
		{"a new boot component", &drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &yes, Boot: "x", Baseline: "b", Components: []string{"evil.efi"}},
			[]string{RuleBootIntegrityViolation}},
		{"failed", &drivers.Attested{Result: drivers.AttestFailed, Problem: "log-replay"}, []string{RuleBootIntegrityViolation}},
		{"unavailable", &drivers.Attested{Result: drivers.AttestUnavailable, Problem: "no-agent"}, []string{RuleAttestationUnavailable}},
		{"never attested", nil, nil},
	}
	for _, tt := range tests {
		b := &builder{plan: &Plan{}}
		cp := &clusterPlan{spec: spec.Cluster{Name: "c1"}, prof: drivers.AzureLocal()}
		d := &spec.VM{Name: "v", Attestation: &spec.Attestation{Enabled: true, Interval: "24h", Require: req}}
		b.attestFindings(cp, d, &drivers.VM{Name: "v", Attestation: tt.a})
		var got []string
		for _, f := range b.plan.Findings {
			got = append(got, f.Rule)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: findings %v, want %v", tt.name, got, tt.want)
		}
	}
	// A platform without the attest op says so once, as a warning.
	b := &builder{plan: &Plan{}}
	noChannel := drivers.Profile{Name: "no-channel", Ops: []drivers.OpKind{drivers.OpCreateVM}}
	b.attestFindings(&clusterPlan{spec: spec.Cluster{Name: "c1"}, prof: noChannel}, &spec.VM{Name: "v", Attestation: &spec.Attestation{Enabled: true}}, &drivers.VM{})
	if len(b.plan.Findings) != 1 || b.plan.Findings[0].Rule != RuleAttestationUnavailable || b.plan.Findings[0].Severity != SeverityWarning {
		t.Errorf("a platform without the attest op: %+v", b.plan.Findings)
	}
}

// TestUnavailableSaysWhatToDo: each channel problem's warning names its own fix.
func TestUnavailableSaysWhatToDo(t *testing.T) {
	for problem, want := range map[string]string{
		"no-guest-credential": "options.guestCredential", "guest-credential-unreadable": "cannot be read",
		"powershell-direct-failed": "PowerShell Direct", "vm-not-running": "start it", "agent-failed": "tlreconcile guest attest",
		"no-agent": "install tlreconcile's guest agent", "run-command-failed": "Connected in Azure Arc", "channel-failed": "tries again", "output-unreadable": "attest verify evidence.json",
	} {
		b := &builder{plan: &Plan{}}
		cp := &clusterPlan{spec: spec.Cluster{Name: "c1"}, prof: drivers.ClassicHyperV()}
		b.attestFindings(cp, &spec.VM{Name: "v", Attestation: &spec.Attestation{Enabled: true}},
			&drivers.VM{Name: "v", Attestation: &drivers.Attested{Result: drivers.AttestUnavailable, Problem: problem}})
		if len(b.plan.Findings) != 1 || !strings.Contains(b.plan.Findings[0].Message, want) || !strings.Contains(b.plan.Findings[0].Message, problem) {
			t.Errorf("%s: %+v, want a warning saying %q", problem, b.plan.Findings, want)
		}
	}
}

// TestAcceptBoot: a boot digest spec.attestation.acceptBoot lists is no violation; any other
// one still is, and its message says how to accept it.
func TestAcceptBoot(t *testing.T) {
	yes := true
	a := &drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &yes, Boot: "0123456789ab", Baseline: "ba5e11ne0000", Components: []string{`\EFI\ubuntu\shimx64.efi`}}
	for _, tc := range []struct {
		accept []string
		want   bool
	}{{nil, true}, {[]string{"0123456789ab"}, false}, {[]string{"ffffffffffff"}, true}} {
		b := &builder{plan: &Plan{}}
		cp := &clusterPlan{spec: spec.Cluster{Name: "c1"}, prof: drivers.AzureLocal()}
		d := &spec.VM{Name: "v", Attestation: &spec.Attestation{Enabled: true, AcceptBoot: tc.accept}}
		b.attestFindings(cp, d, &drivers.VM{Name: "v", Attestation: a})
		got := len(b.plan.Findings) == 1 && b.plan.Findings[0].Rule == RuleBootIntegrityViolation
		if got != tc.want {
			t.Errorf("acceptBoot %v: findings %+v, want a violation: %v", tc.accept, b.plan.Findings, tc.want)
		}
		if got && !strings.Contains(b.plan.Findings[0].Message, "spec.attestation.acceptBoot: [0123456789ab]") {
			t.Errorf("the violation does not say how to accept the boot: %s", b.plan.Findings[0].Message)
		}
	}
}

// TestEKMismatchSaysBothCauses: a guest answering for another TPM is a violation whose
// message names the two causes and how to accept a replaced vTPM.
func TestEKMismatchSaysBothCauses(t *testing.T) {
	b := &builder{plan: &Plan{}}
	cp := &clusterPlan{spec: spec.Cluster{Name: "c1"}, prof: drivers.AzureLocal()}
	b.attestFindings(cp, &spec.VM{Name: "v", Attestation: &spec.Attestation{Enabled: true}},
		&drivers.VM{Name: "v", Attestation: &drivers.Attested{Result: drivers.AttestFailed, Problem: "ek-mismatch"}})
	if len(b.plan.Findings) != 1 || b.plan.Findings[0].Rule != RuleBootIntegrityViolation ||
		!strings.Contains(b.plan.Findings[0].Message, "--accept-vtpm-identity vm/v") || !strings.Contains(b.plan.Findings[0].Message, "guest agent was replaced") {
		t.Errorf("%+v", b.plan.Findings)
	}
}
