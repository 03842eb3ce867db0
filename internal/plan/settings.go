package plan

import (
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// pending is a setting step an update plans before its power window is known.
type pending struct {
	kind   drivers.OpKind
	params *drivers.Params
	step   Step
}

// setting is what one setting rule decides for an existing VM: at most one
// step, the drift it reports (each a change reason) and whether the step
// gives the vTPM a new identity. It is a value without slices, so that a
// plan of 10,000 VMs keeps the rules' results on the stack.
type setting struct {
	step        pending   // kind "": nothing to change
	drift       [2]string // "": unused
	newIdentity bool
}

func (s setting) planned() bool { return s.step.kind != "" }

// newIdentity: a step of set gives the vTPM a new identity.
func newIdentity(set []setting) bool {
	for _, s := range set {
		if s.newIdentity {
			return true
		}
	}
	return false
}

// guard blocks the destructive steps of a protected VM.
type guard struct {
	res     string
	protect bool // the YAML or the record on the VM says protect: true
}

// block is why the destructive step what is blocked; nil when not protected.
func (g guard) block(what string) *Blocked {
	if !g.protect {
		return nil
	}
	return protectBlock(g.res, what)
}

// settingRule decides one setting (or one concern) of an existing VM.
type settingRule func(d *spec.VM, o *drivers.VM, g guard) setting

// settings is every setting rule's decision, in DESIGN order: the order of
// the steps.
func settings(d *spec.VM, o *drivers.VM, g guard) [7]setting {
	return [...]setting{
		vtpmResetRule(d, o, g),
		secureBootRule(d, o, g),
		keyProtectorRule(d, o, g),
		tpmRule(d, o, g),
		securityRule(d, o, g),
		processorsRule(d, o, g),
		memoryRule(d, o, g),
	}
}

// templateChange: Secure Boot stays or becomes on with another template.
func templateChange(d *spec.VM, o *drivers.VM) bool {
	return d.SecureBoot.Enabled && o.SecureBootTemplate != d.SecureBoot.Template
}

// needsVTPMReset: the template is measured into the vTPM, so it can change
// only after a vTPM reset once the vTPM has been initialised (DESIGN §1).
func needsVTPMReset(d *spec.VM, o *drivers.VM) bool {
	return templateChange(d, o) && o.VTPMInitialized
}

// vtpmResetRule resets the vTPM (a new key protector) so that the Secure Boot
// template can change; it destroys the vTPM's secrets. The drift is the
// template's, which secureBootRule reports.
func vtpmResetRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if !needsVTPMReset(d, o) {
		return setting{}
	}
	s := Step{RequiresPowerOff: true, Destructive: true, Blocked: g.block("the vTPM reset"),
		Reason: fmt.Sprintf("secureBoot.template is %s, want %s, and the vTPM is already initialised: reset the vTPM (new key protector) so the template can change; destroys every secret sealed to the vTPM (BitLocker keys)", orNone(o.SecureBootTemplate), d.SecureBoot.Template)}
	return setting{step: pending{drivers.OpEnsureKeyProtector, &drivers.Params{Reset: true}, s}, newIdentity: true}
}

// secureBootRule turns Secure Boot on or off and sets its template.
func secureBootRule(d *spec.VM, o *drivers.VM, _ guard) setting {
	var out setting
	parts := out.drift[:0]
	if o.SecureBoot != d.SecureBoot.Enabled {
		parts = append(parts, fmt.Sprintf("secureBoot is %s, want %s", onOff(o.SecureBoot), onOff(d.SecureBoot.Enabled)))
	}
	if templateChange(d, o) {
		parts = append(parts, fmt.Sprintf("secureBoot.template is %s, want %s", orNone(o.SecureBootTemplate), d.SecureBoot.Template))
	}
	if len(parts) == 0 {
		return out
	}
	out.step = pending{drivers.OpSetSecureBoot, secureBootParams(d),
		Step{RequiresPowerOff: true, Reason: strings.Join(parts, "; ") + " (Hyper-V changes Secure Boot only while the VM is Off)"}}
	return out
}

// keyProtectorRule creates the key protector that a vTPM and state
// encryption need, unless a vTPM reset creates a new one anyway.
func keyProtectorRule(d *spec.VM, o *drivers.VM, _ guard) setting {
	if !(d.VTPM.Enabled || d.EncryptStateAndMigrationTraffic) || o.KeyProtector || needsVTPMReset(d, o) {
		return setting{}
	}
	s := Step{RequiresPowerOff: true, Reason: "the VM has no key protector, which Enable-VMTPM and state encryption need: create one (needs the VM Off)"}
	return setting{step: pending{drivers.OpEnsureKeyProtector, &drivers.Params{}, s}}
}

// tpmRule enables or disables the vTPM; either gives it a new identity, and
// disabling it destroys its secrets.
func tpmRule(d *spec.VM, o *drivers.VM, g guard) setting {
	switch {
	case d.VTPM.Enabled && !o.TPMEnabled:
		s := Step{RequiresPowerOff: true, Reason: "vtpm is disabled, want enabled; its identity is recorded once apply has verified it"}
		return setting{step: pending{drivers.OpEnableTPM, nil, s}, drift: [2]string{"vtpm is disabled, want enabled"}, newIdentity: true}
	case !d.VTPM.Enabled && o.TPMEnabled:
		s := Step{RequiresPowerOff: true, Destructive: true, Blocked: g.block("disabling its vTPM"),
			Reason: "vtpm is enabled, want disabled: destroys every secret sealed to the vTPM (BitLocker keys)"}
		return setting{step: pending{drivers.OpDisableTPM, nil, s}, drift: [2]string{"vtpm is enabled, want disabled"}, newIdentity: true}
	}
	return setting{}
}

// securityRule sets state encryption and the VBS opt-out in one step; only
// the VBS opt-out needs the VM Off.
func securityRule(d *spec.VM, o *drivers.VM, _ guard) setting {
	var out setting
	parts := out.drift[:0]
	if o.EncryptState != d.EncryptStateAndMigrationTraffic {
		parts = append(parts, fmt.Sprintf("encryptStateAndMigrationTraffic is %t, want %t", o.EncryptState, d.EncryptStateAndMigrationTraffic))
	}
	vbsChange := o.VBSOptOut != !d.VBS
	if vbsChange {
		parts = append(parts, fmt.Sprintf("vbs is %s, want %s", vbsWords(o.VBSOptOut), vbsWords(!d.VBS)))
	}
	if len(parts) == 0 {
		return out
	}
	out.step = pending{drivers.OpSetSecurity,
		&drivers.Params{EncryptState: drivers.Bool(d.EncryptStateAndMigrationTraffic), VBSOptOut: drivers.Bool(!d.VBS)},
		Step{RequiresPowerOff: vbsChange, Reason: strings.Join(parts, "; ")}}
	return out
}

// processorsRule sets the processor count (needs the VM Off).
func processorsRule(d *spec.VM, o *drivers.VM, _ guard) setting {
	if o.Processors == d.Processors {
		return setting{}
	}
	p := fmt.Sprintf("processors is %d, want %d", o.Processors, d.Processors)
	s := Step{RequiresPowerOff: true, Reason: p + " (needs the VM Off)"}
	return setting{step: pending{drivers.OpSetProcessor, &drivers.Params{Processors: d.Processors}, s}, drift: [2]string{p}}
}

// memoryRule sets the static memory (needs the VM Off).
func memoryRule(d *spec.VM, o *drivers.VM, _ guard) setting {
	if o.MemoryMB == d.MemoryMB {
		return setting{}
	}
	p := fmt.Sprintf("memoryMB is %d, want %d", o.MemoryMB, d.MemoryMB)
	s := Step{RequiresPowerOff: true, Reason: p + " (static memory changes need the VM Off)"}
	return setting{step: pending{drivers.OpSetMemory, &drivers.Params{MemoryMB: d.MemoryMB}, s}, drift: [2]string{p}}
}
