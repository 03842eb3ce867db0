package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// verify re-observes a VM after its last step and compares it with the plan's
// Expect, so a setting that silently did not take fails the VM. filledID is the
// identity apply recorded in annotations during this change ("" if none).
func (r *runner) verify(ctx context.Context, c *plan.Change, res *ResourceResult, filledID string) {
	if !isVM(c) || (c.Expect == nil && c.Action != plan.ActionDelete) {
		res.Status = StatusSucceeded
		return
	}
	vm, err := r.observeVM(ctx, c)
	var problems []string
	switch {
	case c.Action == plan.ActionDelete:
		if err == nil {
			problems = append(problems, "still exists after delete-vm: the delete did not take")
		} else if !errors.Is(err, drivers.ErrNotFound) {
			problems = append(problems, fmt.Sprintf("could not be re-observed (%v)", err))
		}
	case err != nil:
		problems = append(problems, fmt.Sprintf("could not be re-observed (%v): check the driver, then re-run apply", err))
	default:
		problems = Mismatches(c.Expect, vm)
		if filledID != "" && vm.VTPMIdentity != "" && vm.VTPMIdentity != filledID {
			problems = append(problems, fmt.Sprintf("vtpm_identity is %s, want %s (recorded a moment ago): vTPM state lost", short(vm.VTPMIdentity), short(filledID)))
		}
		if filledID != "" && (vm.Annotations == nil || vm.Annotations.VTPMIdentity != filledID) {
			problems = append(problems, "annotations do not record the new vTPM identity: the set-annotations step did not take")
		}
		if len(problems) == 0 {
			res.VTPMIdentity = vm.VTPMIdentity
		}
	}
	ev := Event{Resource: c.Resource, Cluster: c.Cluster}
	if len(problems) > 0 {
		res.Status = StatusFailed
		res.Reason = c.Resource + ": verify: " + strings.Join(problems, "; ")
		ev.Kind, ev.Error = EventVerifyFailed, res.Reason
	} else {
		res.Status = StatusSucceeded
		ev.Kind = EventVerified
	}
	r.emit(ev)
}

// Mismatches compares an observed VM with what a change expects and returns one
// sentence per field that differs, named by its JSON name. Zero-value Expect
// fields are not checked, and neither is an identity the driver could not read.
func Mismatches(want *plan.Expect, got *drivers.VM) []string {
	if want == nil {
		return nil
	}
	var out []string
	diff := func(field string, have, want any) {
		out = append(out, fmt.Sprintf("%s is %v, want %v: the setting did not take", field, have, want))
	}
	if want.Power != "" && got.Power != want.Power {
		diff("power", got.Power, want.Power)
	}
	if want.Generation != 0 && got.Generation != want.Generation {
		diff("generation", got.Generation, want.Generation)
	}
	if want.SecurityType != "" && got.SecurityType != want.SecurityType {
		diff("security_type", got.SecurityType, want.SecurityType)
	}
	if want.SecureBoot != nil && got.SecureBoot != *want.SecureBoot {
		diff("secure_boot", got.SecureBoot, *want.SecureBoot)
	}
	if want.SecureBootTemplate != "" && got.SecureBootTemplate != want.SecureBootTemplate {
		diff("secure_boot_template", got.SecureBootTemplate, want.SecureBootTemplate)
	}
	if want.TPMEnabled != nil && got.TPMEnabled != *want.TPMEnabled {
		diff("tpm_enabled", got.TPMEnabled, *want.TPMEnabled)
	}
	if want.EncryptState != nil && got.EncryptState != *want.EncryptState {
		diff("encrypt_state", got.EncryptState, *want.EncryptState)
	}
	if want.VBSOptOut != nil && got.VBSOptOut != *want.VBSOptOut {
		diff("vbs_opt_out", got.VBSOptOut, *want.VBSOptOut)
	}
	if want.Processors != 0 && got.Processors != want.Processors {
		diff("processors", got.Processors, want.Processors)
	}
	if want.MemoryMB != 0 && got.MemoryMB != want.MemoryMB {
		diff("memory_mb", got.MemoryMB, want.MemoryMB)
	}
	if want.Node != "" && got.Node != want.Node {
		diff("node", got.Node, want.Node)
	}
	// An identity observed as "" could not be read (the node cannot unlock the
	// vTPM): unknown, never "lost", as the planner treats it.
	if want.VTPMIdentity != "" && got.VTPMIdentity != "" && got.VTPMIdentity != want.VTPMIdentity {
		out = append(out, fmt.Sprintf("vtpm_identity is %s, want %s: vTPM state lost (the VM's vTPM is not the one it had; its sealed secrets are gone unless the old state can be restored)",
			short(got.VTPMIdentity), short(want.VTPMIdentity)))
	}
	return out
}

// short abbreviates a hex fingerprint for messages.
func short(id string) string {
	if id == "" {
		return `""`
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
