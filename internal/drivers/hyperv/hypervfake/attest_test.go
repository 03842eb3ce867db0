package hypervfake_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
)

const (
	guestUser     = `CONTOSO\svc-attest`
	guestPassword = "Gu3st-pa55!word"
	guestEnv      = "TLR_TEST_GUEST_PASSWORD"
)

// attestRef is testRef with the attest op's guest credential, by reference.
func attestRef(t *testing.T) drivers.ClusterRef {
	t.Setenv(guestEnv, guestPassword)
	ref := testRef()
	ref.Options["guestCredential"] = map[string]any{"user": guestUser, "password": map[string]any{"fromEnv": guestEnv}}
	return ref
}

// runningVM creates a managed trusted-launch VM with a vTPM on node1 and starts it.
func runningVM(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, name string) {
	t.Helper()
	mustApply(t, d, ref, createOp(name, "node1", managed()))
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnsureKeyProtector, VM: name})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnableTPM, VM: name})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: name})
}

// attestVM runs the attest op and returns what the next observation shows, and how many
// PowerShell Direct runs (attest.ps1 requests) it took.
func attestVM(t *testing.T, d drivers.Driver, host *hypervfake.Host, ref drivers.ClusterRef, name string) (*drivers.Attested, int64) {
	t.Helper()
	vmNamed(t, d, ref, name) // a plan observes before it applies
	before := host.Counts().PerScript[hyperv.ScriptAttest]
	res := mustApply(t, d, ref, drivers.Op{Kind: drivers.OpAttest, VM: name, Params: &drivers.Params{TargetNode: "node1"}})
	if !res.Changed || res.Message == "" {
		t.Errorf("attest answered %+v", res)
	}
	a := vmNamed(t, d, ref, name).Attestation
	if a == nil {
		t.Fatalf("vm/%s: no attestation observed after the attest op (%s)", name, res.Message)
	}
	return a, host.Counts().PerScript[hyperv.ScriptAttest] - before
}

// TestAttestThroughPowerShellDirect is issue 12's classic Hyper-V channel end to end: the
// driver sends attest.ps1 to the owner node, the fake host runs tlreconcile's real agent in
// the guest against the VM's vTPM and boot log, the driver verifies, and the record lands in
// the VM's Notes next to the administrator's text.
func TestAttestThroughPowerShellDirect(t *testing.T) {
	ref := attestRef(t)
	d, host := newDriver(t, ref, hypervfake.Options{GuestUser: guestUser, GuestPassword: guestPassword})
	runningVM(t, d, ref, "tl")
	notes, err := host.Notes(t.Context(), "tl")
	if err != nil {
		t.Fatal(err)
	}
	if err := host.SetNotes(t.Context(), "tl", "owner: payroll team\n"+notes); err != nil {
		t.Fatal(err)
	}

	first, runs := attestVM(t, d, host, ref, "tl")
	if first.Result != drivers.AttestVerified || runs != 2 {
		t.Fatalf("first contact: %+v after %d PowerShell Direct runs; want verified after 2 (attest, then the credential activation)", first, runs)
	}
	if first.SecureBoot == nil || !*first.SecureBoot || len(first.EK) != 64 || first.Node != "node1" || first.Baseline != first.Boot {
		t.Errorf("the record misses facts: %+v", first)
	}
	again, runs := attestVM(t, d, host, ref, "tl")
	if again.Result != drivers.AttestVerified || runs != 1 || again.EK != first.EK || !again.Time.After(first.Time.Add(-1)) {
		t.Errorf("with the recorded AK: %+v after %d runs; want verified after 1, the same EK", again, runs)
	}
	notes, _ = host.Notes(t.Context(), "tl")
	if !strings.HasPrefix(notes, "owner: payroll team\n") || strings.Contains(notes, guestPassword) {
		t.Errorf("the Notes lost the administrator's text or hold the password:\n%s", notes)
	}
	if a, _, ok := hyperv.ParseNotes(notes); !ok || *a != *managed() {
		t.Errorf("the annotations changed: %+v", a)
	}

	if _, err := host.Sim().Failover(t.Context(), ref.Name, "tl", "node2", false); err != nil {
		t.Fatal(err)
	}
	moved, _ := attestVM(t, d, host, ref, "tl")
	if moved.Result != drivers.AttestVerified || moved.EK != first.EK || moved.Node != "node2" {
		t.Errorf("after a failover with the key: %+v; want the same EK, attested on node2", moved)
	}
	if _, err := host.Sim().Failover(t.Context(), ref.Name, "tl", "node3", true); err != nil {
		t.Fatal(err)
	}
	// A new vTPM answers with another EK: not a new first contact while the old vTPM's
	// identity is the accepted one (a replaced agent over a software TPM looks the same).
	lost, runs := attestVM(t, d, host, ref, "tl")
	if lost.Result != drivers.AttestFailed || lost.Problem != "ek-mismatch" || runs != 1 || lost.EK != first.EK {
		t.Errorf("after a failover without the key: %+v after %d runs; want ek-mismatch before any activation, the pin kept", lost, runs)
	}
	// The new identity accepted (set-annotations records it): the next attestation binds the new vTPM.
	accepted := *managed()
	accepted.VTPMIdentity = vmNamed(t, d, ref, "tl").VTPMIdentity
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpSetAnnotations, VM: "tl", Params: &drivers.Params{Annotations: &accepted}})
	rebound, runs := attestVM(t, d, host, ref, "tl")
	if rebound.Result != drivers.AttestVerified || rebound.EK == first.EK || runs != 2 || rebound.Baseline != first.Baseline {
		t.Errorf("after the new identity was accepted: %+v after %d runs; want the new EK bound by a new activation, the baseline kept", rebound, runs)
	}

	if err := host.Sim().TamperBoot(ref.Name, "tl", `\EFI\evil\bootkit.efi`); err != nil {
		t.Fatal(err)
	}
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStopVM, VM: "tl"})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: "tl"})
	tampered, _ := attestVM(t, d, host, ref, "tl")
	if tampered.Result != drivers.AttestVerified || tampered.Boot == tampered.Baseline || tampered.Baseline != first.Baseline ||
		!strings.Contains(strings.Join(tampered.Components, ";"), `\EFI\evil\bootkit.efi`) {
		t.Errorf("after a tampered boot: %+v; want the new component, a boot digest off the first boot's baseline", tampered)
	}
}

// TestAttestUnavailable: a guest the channel cannot reach is a record, never an op error, and
// the VM is otherwise untouched.
func TestAttestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     func(t *testing.T, ref *drivers.ClusterRef, host *hypervfake.Host)
		problem string
	}{
		{"no guest credential", nil, hyperv.ProblemNoGuestCredential},
		{"its password is not set", func(t *testing.T, _ *drivers.ClusterRef, _ *hypervfake.Host) { t.Setenv(guestEnv, "") }, hyperv.ProblemGuestCredential},
		{"a wrong password", func(t *testing.T, _ *drivers.ClusterRef, _ *hypervfake.Host) { t.Setenv(guestEnv, "wrong") }, hyperv.ProblemPowerShellDirect},
		{"no agent in the guest", func(t *testing.T, _ *drivers.ClusterRef, h *hypervfake.Host) { h.RemoveGuestAgent("tl") }, "no-agent"},
		{"the VM is off", func(t *testing.T, ref *drivers.ClusterRef, h *hypervfake.Host) {}, hyperv.ProblemVMNotRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := attestRef(t)
			if tc.set == nil {
				ref = testRef() // no options.guestCredential
			}
			d, host := newDriver(t, ref, hypervfake.Options{GuestUser: guestUser, GuestPassword: guestPassword})
			runningVM(t, d, ref, "tl")
			switch {
			case tc.problem == hyperv.ProblemVMNotRunning:
				mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStopVM, VM: "tl"})
			case tc.set != nil:
				tc.set(t, &ref, host)
			}
			before := vmNamed(t, d, ref, "tl")
			a, _ := attestVM(t, d, host, ref, "tl")
			if a.Result != drivers.AttestUnavailable || a.Problem != tc.problem {
				t.Errorf("got %s (%s), want unavailable (%s)", a.Result, a.Problem, tc.problem)
			}
			after := vmNamed(t, d, ref, "tl")
			if after.Power != before.Power || after.VTPMIdentity != before.VTPMIdentity || *after.Annotations != *before.Annotations {
				t.Errorf("the VM changed: %+v -> %+v", before, after)
			}
			notes, _ := host.Notes(t.Context(), "tl")
			if strings.Contains(notes, guestPassword) {
				t.Error("the Notes hold the password")
			}
		})
	}
}

func TestAttestRefusesAnUnmanagedVM(t *testing.T) {
	ref := attestRef(t)
	d, host := newDriver(t, ref, hypervfake.Options{})
	runningVM(t, d, ref, "tl")
	if err := host.SetNotes(t.Context(), "tl", "hand-made"); err != nil {
		t.Fatal(err)
	}
	_, err := d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpAttest, Cluster: ref.Name, VM: "tl"})
	if err == nil || !strings.Contains(err.Error(), "not a VM tlreconcile manages") {
		t.Fatalf("attest of an unmanaged VM: %v", err)
	}
	if notes, _ := host.Notes(t.Context(), "tl"); notes != "hand-made" {
		t.Errorf("its Notes were written: %q", notes)
	}
}
