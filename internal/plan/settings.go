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

// guard is what the setting rules need besides d and o: whether the VM's
// destructive steps are blocked (protect), and what the platform allows.
type guard struct {
	res     string
	protect bool            // the YAML or the record on the VM says protect: true
	prof    drivers.Profile // the zero value is ClassicHyperV (see p)
}

// p is the platform's profile.
func (g guard) p() drivers.Profile { return g.prof.OrDefault() }

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
	if g.p().Has(drivers.OpSetHardware) {
		return [...]setting{
			vtpmResetRule(d, o, g),
			secureBootRule(d, o, g),
			keyProtectorRule(d, o, g),
			tpmRule(d, o, g),
			securityRule(d, o, g),
			hardwareRule(d, o, g),
			{},
		}
	}
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
// template's, which secureBootRule reports. Where a reset does not free the
// template (Profile.TemplateFixedOnceInitialised: real Hyper-V keeps the
// guest-state file written, so set-secure-boot still refuses), no reset is
// planned: it would destroy the vTPM for a change that still fails, and
// secureBootRule blocks the change instead (templateFixed).
func vtpmResetRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if !needsVTPMReset(d, o) || g.p().IsCreateOnly(drivers.SettingSecureBootTemplate) || g.p().TemplateFixedOnceInitialised {
		return setting{}
	}
	s := Step{RequiresPowerOff: true, Destructive: true, Blocked: g.block("the vTPM reset"),
		Reason: fmt.Sprintf("secureBoot.template is %s, want %s, and the vTPM is already initialised: reset the vTPM (new key protector) so the template can change; destroys every secret sealed to the vTPM (BitLocker keys)", orNone(o.SecureBootTemplate), d.SecureBoot.Template)}
	return setting{step: pending{drivers.OpEnsureKeyProtector, &drivers.Params{Reset: true}, s}, newIdentity: true}
}

// templateFixed is why a template change of a VM with an initialised vTPM
// cannot be made in place where the platform keeps the template fixed; nil
// when it can.
func templateFixed(d *spec.VM, o *drivers.VM, g guard) *Blocked {
	if !needsVTPMReset(d, o) || o.SecureBootTemplate == "" || !g.p().TemplateFixedOnceInitialised {
		return nil
	}
	return block(BlockPlatformForbids, fmt.Sprintf("secureBoot.template is %s, want %s, but %s has already initialised its vTPM, and the %s platform keeps the template fixed from then on, also after a vTPM reset: keep template %s in the YAML, or replace the VM (a new VM under another name, then delete this one with --prune)",
		orNone(o.SecureBootTemplate), d.SecureBoot.Template, g.res, g.p().Name, orNone(o.SecureBootTemplate)))
}

// secureBootRule turns Secure Boot on or off and sets its template.
func secureBootRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if g.p().IsCreateOnly(drivers.SettingSecureBoot) {
		return reEnableSecureBoot(d, o, g)
	}
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
		Step{RequiresPowerOff: true, Blocked: templateFixed(d, o, g), Reason: strings.Join(parts, "; ") + " (Hyper-V changes Secure Boot only while the VM is Off)"}}
	return out
}

// keyProtectorRule creates the key protector that a vTPM and state
// encryption need, unless a vTPM reset creates a new one anyway.
func keyProtectorRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if g.p().Protection != drivers.ProtectionKeyProtector || !(d.VTPM.Enabled || d.EncryptStateAndMigrationTraffic) || o.KeyProtector || needsVTPMReset(d, o) {
		return setting{}
	}
	s := Step{RequiresPowerOff: true, Reason: "the VM has no key protector, which Enable-VMTPM and state encryption need: create one (needs the VM Off)"}
	return setting{step: pending{drivers.OpEnsureKeyProtector, &drivers.Params{}, s}}
}

// tpmRule enables or disables the vTPM; either gives it a new identity, and
// disabling it destroys its secrets.
func tpmRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if g.p().IsCreateOnly(drivers.SettingVTPM) {
		return setting{} // a difference is a replace (replaceReasons)
	}
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
func securityRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if !g.p().Has(drivers.OpSetSecurity) {
		return setting{} // the platform has no such setting (validation says so)
	}
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

// memoryRule sets the static memory: in place where the platform resizes a
// running VM's memory (Profile.OffFor has no memoryMB), otherwise while Off.
func memoryRule(d *spec.VM, o *drivers.VM, g guard) setting {
	if o.MemoryMB == d.MemoryMB {
		return setting{}
	}
	p := fmt.Sprintf("memoryMB is %d, want %d", o.MemoryMB, d.MemoryMB)
	s := Step{RequiresPowerOff: true, Reason: p + " (static memory changes need the VM Off)"}
	if !g.p().NeedsOff(drivers.SettingMemory) {
		s = Step{Reason: p + " (resized while the VM runs: runtime memory resize)"}
	}
	return setting{step: pending{drivers.OpSetMemory, &drivers.Params{MemoryMB: d.MemoryMB}, s}, drift: [2]string{p}}
}

// reEnableSecureBoot switches Secure Boot found off back on, in place, on a
// platform where Secure Boot is otherwise fixed at create (Azure Local: from
// the owner node, template unchanged, in a stop/start window). The other
// differences (turning it off, another template) are replaceReasons'.
func reEnableSecureBoot(d *spec.VM, o *drivers.VM, g guard) setting {
	if !d.SecureBoot.Enabled || o.SecureBoot || !g.p().CanReEnable(drivers.SettingSecureBoot) {
		return setting{}
	}
	p := "secureBoot is off, want on"
	s := Step{RequiresPowerOff: g.p().NeedsOff(drivers.SettingSecureBoot),
		Reason: p + ": switch it back on with its template unchanged (the platform changes Secure Boot only while the VM is Off)"}
	return setting{step: pending{drivers.OpSetSecureBoot, &drivers.Params{SecureBoot: drivers.Bool(true)}, s}, drift: [2]string{p}}
}

// hardwareRule changes processors and memory in one set-hardware, Off only
// when a setting that changes needs it.
func hardwareRule(d *spec.VM, o *drivers.VM, g guard) setting {
	var out setting
	parts := out.drift[:0]
	off := false
	if o.Processors != d.Processors {
		parts = append(parts, fmt.Sprintf("processors is %d, want %d", o.Processors, d.Processors))
		off = off || g.p().NeedsOff(drivers.SettingProcessors)
	}
	if o.MemoryMB != d.MemoryMB {
		parts = append(parts, fmt.Sprintf("memoryMB is %d, want %d", o.MemoryMB, d.MemoryMB))
		off = off || g.p().NeedsOff(drivers.SettingMemory)
	}
	if len(parts) == 0 {
		return out
	}
	why := strings.Join(parts, "; ")
	if off {
		why += " (the processor count changes only while the VM is Off)"
	}
	out.step = pending{drivers.OpSetHardware, &drivers.Params{Processors: d.Processors, MemoryMB: d.MemoryMB},
		Step{RequiresPowerOff: off, Reason: why}}
	return out
}
