package plan_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestInfrastructureVMIsNeverPlanned: the Arc resource bridge VM gets no
// step in any plan — not with --prune, not when its tags were forged to say
// tlreconcile manages it, not when the YAML declares a VM of its name, not
// with every acceptance — only a finding.
func TestInfrastructureVMIsNeverPlanned(t *testing.T) {
	bridgeSpec := vmSpec("arc-resource-bridge", func(v *spec.VM) { v.Processors = 16 })
	forged := synced(bridgeSpec, "node1", "ek", func(o *drivers.VM) { o.Infrastructure = true; o.Processors = 4 })
	plain := synced(bridgeSpec, "node1", "", func(o *drivers.VM) { o.Infrastructure = true; o.Annotations = nil })
	for _, tt := range []struct {
		name     string
		declared []spec.VM
		o        drivers.VM
		severity plan.Severity
	}{
		{"pruned with forged tags", nil, forged, plan.SeverityInfo},
		{"pruned", nil, plain, plan.SeverityInfo},
		{"declared by name, forged tags", []spec.VM{bridgeSpec}, forged, plan.SeverityError},
		{"declared by name", []spec.VM{bridgeSpec}, plain, plan.SeverityError},
	} {
		for _, prof := range []drivers.Profile{drivers.ClassicHyperV(), drivers.AzureLocal()} {
			t.Run(tt.name+"/"+prof.Name, func(t *testing.T) {
				obs := observedOf(healthyNodes(), tt.o)
				obs["c1"].Profile = prof
				p := mustBuild(t, desiredOf(clusterSpec(), tt.declared...), obs, plan.Options{
					Prune: true, Accept: plan.Acceptances{Any: map[string]bool{drivers.VMResource("c1", tt.o.Name).Key(): true}},
				})
				if len(p.Changes) != 0 {
					t.Fatalf("a plan against the infrastructure VM:\n%s", render(p))
				}
				if len(p.Findings) != 1 || p.Findings[0].Rule != plan.RuleInfrastructureVM || p.Findings[0].Severity != tt.severity ||
					!strings.Contains(p.Findings[0].Message, "never changes it") {
					t.Fatalf("findings: %+v", p.Findings)
				}
			})
		}
	}
}
