package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// createOnlyReasons lists the settings that differ and that the platform
// fixes when a VM is created (Profile.CreateOnly): each makes the change a
// replace, which is destructive and guarded. Secure Boot found off is not
// among them where the platform switches it back on in place.
func createOnlyReasons(d *spec.VM, o *drivers.VM, prof drivers.Profile) []string {
	var why []string
	fixed := func(what string) string {
		return fmt.Sprintf("%s: the %s profile fixes it when the VM is created, so the VM is replaced", what, prof.Name)
	}
	if prof.IsCreateOnly(drivers.SettingVTPM) && o.TPMEnabled != d.VTPM.Enabled {
		why = append(why, fixed(fmt.Sprintf("vtpm is %s, want %s", enabledWord(o.TPMEnabled), enabledWord(d.VTPM.Enabled))))
	}
	if prof.IsCreateOnly(drivers.SettingSecureBoot) && o.SecureBoot != d.SecureBoot.Enabled &&
		!(d.SecureBoot.Enabled && prof.CanReEnable(drivers.SettingSecureBoot)) {
		why = append(why, fixed(fmt.Sprintf("secureBoot is %s, want %s", onOff(o.SecureBoot), onOff(d.SecureBoot.Enabled))))
	}
	if prof.IsCreateOnly(drivers.SettingSecureBootTemplate) && !prof.PlatformTemplate && d.SecureBoot.Enabled &&
		o.SecureBootTemplate != "" && o.SecureBootTemplate != d.SecureBoot.Template {
		why = append(why, fixed(fmt.Sprintf("secureBoot.template is %s, want %s", o.SecureBootTemplate, d.SecureBoot.Template)))
	}
	return why
}

func enabledWord(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

// createWhole plans the create on a platform whose security profile travels
// with the create (Azure Local: one ARM create of the Arc machine and its VM
// instance with securityType, enableTPM and secureBootEnabled): create-vm,
// then stop-vm when the YAML wants it Off but the platform starts new VMs
// (or start-vm when it wants it Running and the platform does not), then the
// record. No key-protector, TPM or security step exists on such a platform.
func (b *builder) createWhole(k *chain, cp *clusterPlan, d *spec.VM) {
	node, dep, blocked := cp.pickNode(d)
	if cp.prof.PlatformPlaces && d.Placement.Node == "" {
		node = "" // some node can take it (pickNode said so); the platform picks which
	}
	hash := d.Hash()
	st := securityType(d)
	starts := cp.prof.CreateStarts
	k.add(drivers.OpCreateVM, &drivers.Params{
		Generation:         2,
		SecurityType:       st,
		SecureBoot:         drivers.Bool(d.SecureBoot.Enabled),
		SecureBootTemplate: cp.templateParam(d),
		VTPM:               drivers.Bool(d.VTPM.Enabled),
		Image:              &drivers.Image{Publisher: d.Image.Publisher, Offer: d.Image.Offer, Sku: d.Image.Sku, Version: d.Image.Version},
		Processors:         d.Processors,
		MemoryMB:           d.MemoryMB,
		TargetNode:         node,
		Network:            networkParams(d),
		StoragePath:        d.StoragePath,
		OSProfile:          osProfileParams(d),
		Annotations:        &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: hash, Protect: d.Protect, Node: node},
	}, Step{
		DependsOn: []string{dep},
		Blocked:   blocked,
		Reason: fmt.Sprintf("create a %s VM%s with %s and the vTPM %s (fixed at create), %d processors, %d MB, %s, annotated as managed by tlreconcile from birth",
			st, onNode(node), secureBootWords(d.SecureBoot.Enabled, d.SecureBoot.Template), enabledWord(d.VTPM.Enabled),
			d.Processors, d.MemoryMB, startsWord(starts)),
	})
	switch want := wantPower(d); {
	case starts && want == drivers.PowerOff:
		k.add(drivers.OpStopVM, nil, Step{Reason: "stop the new VM (power: Off); the platform starts a VM it creates"})
	case !starts && want == drivers.PowerRunning:
		k.add(drivers.OpStartVM, nil, Step{Reason: "start the VM (power: Running)"})
	}
	k.add(drivers.OpSetAnnotations, &drivers.Params{Annotations: &drivers.Annotations{
		ManagedBy: drivers.ManagedBy, SpecHash: hash, Protect: d.Protect, Node: node,
	}}, Step{Reason: "record the spec hash, protect flag and the new vTPM identity that apply verifies"})
}

// templateParam is the template create-vm sends: none where the platform
// chooses it, and none when Secure Boot is off.
func (cp *clusterPlan) templateParam(d *spec.VM) string {
	if d.SecureBoot.Enabled && !cp.prof.PlatformTemplate {
		return d.SecureBoot.Template
	}
	return ""
}

func startsWord(starts bool) string {
	if starts {
		return "started by the platform"
	}
	return "Off"
}

func networkParams(d *spec.VM) *drivers.Network {
	if d.Network == nil {
		return nil
	}
	return &drivers.Network{LogicalNetwork: d.Network.LogicalNetwork, IPAddress: d.Network.IPAddress}
}

// osProfileParams carries the OS profile with the password as its reference.
func osProfileParams(d *spec.VM) *drivers.OSProfile {
	if d.OSProfile == nil {
		return nil
	}
	o := &drivers.OSProfile{ComputerName: d.OSProfile.ComputerName, AdminUsername: d.OSProfile.AdminUsername}
	if r := d.OSProfile.AdminPassword; r != nil {
		o.AdminPassword = &drivers.SecretRef{FromEnv: r.FromEnv, FromFile: r.FromFile}
	}
	return o
}

// expect is what apply verifies after a change of d: expectFor, without
// what the platform has no setting for (state encryption and the VBS
// opt-out where there is no set-security) or chooses itself (the Secure
// Boot template on Azure Local).
func (cp *clusterPlan) expect(d *spec.VM, identity string) *Expect {
	e := expectFor(d, identity)
	if !cp.prof.Has(drivers.OpSetSecurity) {
		e.EncryptState, e.VBSOptOut = nil, nil
	}
	if cp.prof.PlatformTemplate {
		e.SecureBootTemplate = ""
	}
	return e
}
