package plan_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestRealHyperVAttests: classic Hyper-V has a channel into the guest (PowerShell Direct), so
// a running VM that declares spec.attestation and was never attested gets the attest step,
// recording the node it runs on, and no attestation-unavailable warning.
func TestRealHyperVAttests(t *testing.T) {
	d := vmSpec("v1", func(v *spec.VM) { v.Attestation = &spec.Attestation{Enabled: true, Interval: "24h"} })
	obs := observedOf(healthyNodes(), synced(d, "node2", "id1"))
	hv, err := hyperv.New(drivers.Config{})
	if err != nil {
		t.Fatal(err)
	}
	obs["c1"].Profile = hv.Profile()
	p := mustBuild(t, desiredOf(clusterSpec(), d), obs, plan.Options{})
	var attest *plan.Step
	for i := range p.Changes {
		for j := range p.Changes[i].Steps {
			if s := &p.Changes[i].Steps[j]; s.Op.Kind == drivers.OpAttest {
				attest = s
			}
		}
	}
	if attest == nil || attest.Op.VM != "v1" || attest.Op.Params == nil || attest.Op.Params.TargetNode != "node2" {
		t.Fatalf("no attest step for v1 on node2:\n%s", render(p))
	}
	if !strings.Contains(attest.Reason, "never attested") {
		t.Errorf("reason %q", attest.Reason)
	}
	// Nothing else changes, so the change says why it is one.
	if len(p.Changes) != 1 || strings.Join(p.Changes[0].Reasons, "|") != "attestation due: never attested" {
		t.Errorf("an attest-only change's reasons: %q, want the attestation's", p.Changes[0].Reasons)
	}
	for _, f := range p.Findings {
		if f.Rule == plan.RuleAttestationUnavailable {
			t.Errorf("classic Hyper-V warns %s", f.Message)
		}
	}
}
