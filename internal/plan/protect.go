package plan

import (
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// guardedChange names the guarded change (a replace, disabling the vTPM, a
// vTPM reset) that d needs on a VM protected only by the record on it (the
// YAML now says protect: false); "" when there is none. Such a change takes
// two applies: the first only records protect: false and the next plan holds
// the guarded change, so deleting or editing the YAML never skips the
// protection silently. why are the replace reasons.
func guardedChange(d *spec.VM, o *drivers.VM, why []string) string {
	if !o.Annotations.Protect || d.Protect {
		return ""
	}
	switch {
	case len(why) > 0:
		return "a replace (" + strings.Join(why, "; ") + ")"
	case !d.VTPM.Enabled && o.TPMEnabled:
		return "disabling the vTPM"
	case needsVTPMReset(d, o):
		return "a vTPM reset (the Secure Boot template changes after the vTPM was initialised)"
	}
	return ""
}

// protectBlock is why a guarded step of a VM whose YAML says protect: true is blocked.
func protectBlock(res, what string) *Blocked {
	return block(BlockProtected, fmt.Sprintf("%s is protected (protect: true); set protect: false in the YAML and apply that first, then apply %s with --allow-destructive", res, what))
}

// releaseProtect plans only the record of protect: false on a VM whose YAML
// no longer protects it, and says which guarded change the next plan holds.
func (b *builder) releaseProtect(cp *clusterPlan, d *spec.VM, o *drivers.VM, guarded string) {
	res := "vm/" + d.Name
	ch := &Change{Resource: res, Cluster: cp.spec.Name, Action: ActionUpdate, Reasons: []string{
		"protect: true is recorded on the VM and the YAML says protect: false: record that first; " + guarded + " follows in the next plan",
	}}
	k := b.newChain(ch, d.Name)
	rel := *o.Annotations
	rel.Protect = false
	k.add(drivers.OpSetAnnotations, &drivers.Params{Annotations: &rel}, Step{Reason: "record protect: false, the YAML's value, so that the next plan may hold " + guarded})
	b.finding(SeverityWarning, RuleProtectReleased, res, cp.spec.Name,
		fmt.Sprintf("%s needs %s, and protect: true is still recorded on the VM: this plan only records protect: false; apply it, then plan again to review the guarded change (it needs --allow-destructive)", res, guarded))
	b.add(ch)
}
