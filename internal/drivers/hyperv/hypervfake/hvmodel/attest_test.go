package hvmodel_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

// TestAttest: the model's attest op runs tlreconcile's real agent in the guest against the
// VM's vTPM: the EK it attests under is the identity the model reports, a lost vTPM attests
// under a new one, a planted boot component shows after a restart, and an Off VM is
// unavailable.
func TestAttest(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	v0 := f.running("x", "node1")
	attest := func() *drivers.Attested {
		t.Helper()
		f.apply(drivers.OpAttest, "x", nil)
		return f.vm("x").Attestation
	}
	a := attest()
	if a == nil || a.Result != drivers.AttestVerified || a.EK != v0.VTPMIdentity || a.Node != "node1" || a.Baseline != a.Boot {
		t.Fatalf("attest: %+v; want verified under the EK %s on node1", a, v0.VTPMIdentity)
	}
	if _, err := f.d.Failover(context.Background(), cl, "x", "node2", true); err != nil {
		t.Fatal(err)
	}
	lost := attest()
	if lost.Result != drivers.AttestVerified || lost.EK == a.EK || lost.EK != f.vm("x").VTPMIdentity || lost.Node != "node2" {
		t.Errorf("after losing the vTPM: %+v; want a new EK, the one the model reports", lost)
	}
	if err := f.d.TamperBoot(cl, "x", `\EFI\evil\bootkit.efi`); err != nil {
		t.Fatal(err)
	}
	if same := attest(); same.Boot != a.Boot {
		t.Errorf("the running boot changed before a restart: %+v", same)
	}
	f.apply(drivers.OpStopVM, "x", nil)
	f.apply(drivers.OpStartVM, "x", nil)
	tampered := attest()
	if tampered.Boot == tampered.Baseline || !strings.Contains(strings.Join(tampered.Components, ";"), "bootkit") {
		t.Errorf("after a restart with a planted component: %+v", tampered)
	}
	f.apply(drivers.OpStopVM, "x", nil)
	if off := attest(); off.Result != drivers.AttestUnavailable || off.Problem != "vm-not-running" || off.Baseline != a.Baseline {
		t.Errorf("an Off VM: %+v; want unavailable (vm-not-running), the baseline kept", off)
	}
	if err := f.d.TamperBoot(cl, "x", ""); err == nil {
		t.Error("an empty boot component was accepted")
	}
}
