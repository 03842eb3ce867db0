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

// settingChange is what the setting rules decide for one VM: the steps, in
// DESIGN order, the drift they report (each a change reason) and whether a
// step gives the vTPM a new identity.
type settingChange struct {
	steps       []pending
	drift       []string
	newIdentity bool
}

func (s *settingChange) merge(o settingChange) {
	s.steps = append(s.steps, o.steps...)
	s.drift = append(s.drift, o.drift...)
	s.newIdentity = s.newIdentity || o.newIdentity
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
type settingRule func(d *spec.VM, o *drivers.VM, g guard) settingChange

// settings runs every setting rule in DESIGN order: the order of the steps.
func settings(d *spec.VM, o *drivers.VM, g guard) settingChange {
	rules := []settingRule{vtpmResetRule, secureBootRule, keyProtectorRule, tpmRule, securityRule, processorsRule, memoryRule}
	out := settingChange{steps: make([]pending, 0, 8)}
	for _, r := range rules {
		out.merge(r(d, o, g))
	}
	return out
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
func vtpmResetRule(d *spec.VM, o *drivers.VM, g guard) settingChange {
	if !needsVTPMReset(d, o) {
		return settingChange{}
	}
	s := Step{RequiresPowerOff: true, Destructive: true, Blocked: g.block("the vTPM reset"),
		Reason: fmt.Sprintf("secureBoot.template is %s, want %s, and the vTPM is already initialised: reset the vTPM (new key protector) so the template can change; destroys every secret sealed to the vTPM (BitLocker keys)", orNone(o.SecureBootTemplate), d.SecureBoot.Template)}
	return settingChange{steps: []pending{{drivers.OpEnsureKeyProtector, &drivers.Params{Reset: true}, s}}, newIdentity: true}
}

// secureBootRule turns Secure Boot on or off and sets its template.
func secureBootRule(d *spec.VM, o *drivers.VM, _ guard) settingChange {
	var parts []string
	if o.SecureBoot != d.SecureBoot.Enabled {
		parts = append(parts, fmt.Sprintf("secureBoot is %s, want %s", onOff(o.SecureBoot), onOff(d.SecureBoot.Enabled)))
	}
	if templateChange(d, o) {
		parts = append(parts, fmt.Sprintf("secureBoot.template is %s, want %s", orNone(o.SecureBootTemplate), d.SecureBoot.Template))
	}
	if len(parts) == 0 {
		return settingChange{}
	}
	s := Step{RequiresPowerOff: true, Reason: strings.Join(parts, "; ") + " (Hyper-V changes Secure Boot only while the VM is Off)"}
	return settingChange{steps: []pending{{drivers.OpSetSecureBoot, secureBootParams(d), s}}, drift: parts}
}

// keyProtectorRule creates the key protector that a vTPM and state
// encryption need, unless a vTPM reset creates a new one anyway.
func keyProtectorRule(d *spec.VM, o *drivers.VM, _ guard) settingChange {
	if !(d.VTPM.Enabled || d.EncryptStateAndMigrationTraffic) || o.KeyProtector || needsVTPMReset(d, o) {
		return settingChange{}
	}
	s := Step{RequiresPowerOff: true, Reason: "the VM has no key protector, which Enable-VMTPM and state encryption need: create one (needs the VM Off)"}
	return settingChange{steps: []pending{{drivers.OpEnsureKeyProtector, &drivers.Params{}, s}}}
}

// tpmRule enables or disables the vTPM; either gives it a new identity, and
// disabling it destroys its secrets.
func tpmRule(d *spec.VM, o *drivers.VM, g guard) settingChange {
	switch {
	case d.VTPM.Enabled && !o.TPMEnabled:
		s := Step{RequiresPowerOff: true, Reason: "vtpm is disabled, want enabled; its identity is recorded once apply has verified it"}
		return settingChange{steps: []pending{{drivers.OpEnableTPM, nil, s}}, drift: []string{"vtpm is disabled, want enabled"}, newIdentity: true}
	case !d.VTPM.Enabled && o.TPMEnabled:
		s := Step{RequiresPowerOff: true, Destructive: true, Blocked: g.block("disabling its vTPM"),
			Reason: "vtpm is enabled, want disabled: destroys every secret sealed to the vTPM (BitLocker keys)"}
		return settingChange{steps: []pending{{drivers.OpDisableTPM, nil, s}}, drift: []string{"vtpm is enabled, want disabled"}, newIdentity: true}
	}
	return settingChange{}
}

// securityRule sets state encryption and the VBS opt-out in one step; only
// the VBS opt-out needs the VM Off.
func securityRule(d *spec.VM, o *drivers.VM, _ guard) settingChange {
	var parts []string
	if o.EncryptState != d.EncryptStateAndMigrationTraffic {
		parts = append(parts, fmt.Sprintf("encryptStateAndMigrationTraffic is %t, want %t", o.EncryptState, d.EncryptStateAndMigrationTraffic))
	}
	vbsChange := o.VBSOptOut != !d.VBS
	if vbsChange {
		parts = append(parts, fmt.Sprintf("vbs is %s, want %s", vbsWords(o.VBSOptOut), vbsWords(!d.VBS)))
	}
	if len(parts) == 0 {
		return settingChange{}
	}
	p := &drivers.Params{EncryptState: drivers.Bool(d.EncryptStateAndMigrationTraffic), VBSOptOut: drivers.Bool(!d.VBS)}
	s := Step{RequiresPowerOff: vbsChange, Reason: strings.Join(parts, "; ")}
	return settingChange{steps: []pending{{drivers.OpSetSecurity, p, s}}, drift: parts}
}

// processorsRule sets the processor count (needs the VM Off).
func processorsRule(d *spec.VM, o *drivers.VM, _ guard) settingChange {
	if o.Processors == d.Processors {
		return settingChange{}
	}
	p := fmt.Sprintf("processors is %d, want %d", o.Processors, d.Processors)
	s := Step{RequiresPowerOff: true, Reason: p + " (needs the VM Off)"}
	return settingChange{steps: []pending{{drivers.OpSetProcessor, &drivers.Params{Processors: d.Processors}, s}}, drift: []string{p}}
}

// memoryRule sets the static memory (needs the VM Off).
func memoryRule(d *spec.VM, o *drivers.VM, _ guard) settingChange {
	if o.MemoryMB == d.MemoryMB {
		return settingChange{}
	}
	p := fmt.Sprintf("memoryMB is %d, want %d", o.MemoryMB, d.MemoryMB)
	s := Step{RequiresPowerOff: true, Reason: p + " (static memory changes need the VM Off)"}
	return settingChange{steps: []pending{{drivers.OpSetMemory, &drivers.Params{MemoryMB: d.MemoryMB}, s}}, drift: []string{p}}
}
