package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// fileAccess restricts the files of o, which hold the vTPM, to host
// administrators when the cluster enforces it (vmFileAccess: hostAdminsOnly),
// and warns when the cluster accepts the violation. The step runs first: it
// needs no power change.
func (b *builder) fileAccess(cp *clusterPlan, k *chain, o *drivers.VM) {
	if o.FileAccess != drivers.FileAccessViolation {
		return
	}
	res := k.ch.Resource
	if !cp.fileAccessEnforced() {
		b.finding(SeverityWarning, RuleFileAccess, res, cp.spec.Name,
			fmt.Sprintf("%s: its configuration and state files (which hold the vTPM) are readable by more than host administrators and vmFileAccess: ignore accepts it; set vmFileAccess: hostAdminsOnly to fix it", res))
		return
	}
	k.ch.Reasons = append(k.ch.Reasons, "vmFileAccess: the VM's state files are readable by more than host administrators, want host administrators only")
	k.add(drivers.OpRestrictFileAccess, nil, Step{Reason: "the VM's configuration and state files (which hold the vTPM) are readable by more than host administrators, want host administrators only (vmFileAccess: hostAdminsOnly)"})
}
