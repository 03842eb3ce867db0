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
			problems = append(problems, fmt.Sprintf("vtpm_identity is %s, want %s (recorded a moment ago): vTPM state lost", drivers.Identity(vm.VTPMIdentity).Short(), drivers.Identity(filledID).Short()))
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
	for _, f := range expectFields(want, got) {
		if f.checked && fmt.Sprint(f.have) != fmt.Sprint(f.want) {
			out = append(out, fmt.Sprintf("%s is %v, want %v: the setting did not take", f.name, f.have, f.want))
		}
	}
	// An identity observed as "" could not be read (the node cannot unlock the
	// vTPM): unknown, never "lost", as the planner treats it.
	if want.VTPMIdentity != "" && got.VTPMIdentity != "" && got.VTPMIdentity != want.VTPMIdentity {
		out = append(out, fmt.Sprintf("vtpm_identity is %s, want %s: vTPM state lost (the VM's vTPM is not the one it had; its sealed secrets are gone unless the old state can be restored)",
			drivers.Identity(got.VTPMIdentity).Short(), drivers.Identity(want.VTPMIdentity).Short()))
	}
	return out
}

// expectField is one field of an Expect beside the observed value; checked
// is false for a zero-value field, which means "anything".
type expectField struct {
	name       string
	checked    bool
	have, want any
}

// expectFields lists the settings an Expect can pin, in JSON order.
func expectFields(want *plan.Expect, got *drivers.VM) []expectField {
	deref := func(b *bool) any {
		if b == nil {
			return nil
		}
		return *b
	}
	return []expectField{
		{"power", want.Power != "", got.Power, want.Power},
		{"generation", want.Generation != 0, got.Generation, want.Generation},
		{"security_type", want.SecurityType != "", got.SecurityType, want.SecurityType},
		{"secure_boot", want.SecureBoot != nil, got.SecureBoot, deref(want.SecureBoot)},
		{"secure_boot_template", want.SecureBootTemplate != "", got.SecureBootTemplate, want.SecureBootTemplate},
		{"tpm_enabled", want.TPMEnabled != nil, got.TPMEnabled, deref(want.TPMEnabled)},
		{"encrypt_state", want.EncryptState != nil, got.EncryptState, deref(want.EncryptState)},
		{"vbs_opt_out", want.VBSOptOut != nil, got.VBSOptOut, deref(want.VBSOptOut)},
		{"processors", want.Processors != 0, got.Processors, want.Processors},
		{"memory_mb", want.MemoryMB != 0, got.MemoryMB, want.MemoryMB},
		{"node", want.Node != "", got.Node, want.Node},
	}
}
