package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// vm plans one declared VM against what was observed under its name (nil: absent).
func (b *builder) vm(cp *clusterPlan, d *spec.VM, o *drivers.VM) {
	res := "vm/" + d.Name
	c := cp.spec.Name
	b.imageFinding(c, d)
	switch {
	case o == nil:
		ch := &Change{Resource: res, Cluster: c, Action: ActionCreate,
			Reasons: []string{fmt.Sprintf("not found in cluster %s%s", c, declaredAt(d))}}
		k := b.newChain(ch, d.Name)
		b.createSteps(k, cp, d)
		b.attest(cp, k, d, nil, true, d.Placement.Node)
		ch.Expect = cp.expect(d, "")
		propagateBlocked(ch, false)
		b.add(ch)
	case o.ObserveError != "":
		b.observeFailed(c, o)
	case o.Infrastructure:
		b.finding(SeverityError, RuleInfrastructureVM, res, c,
			fmt.Sprintf("%s: the YAML declares a VM named like the platform's infrastructure VM (the Arc resource bridge) on node %s; tlreconcile never changes it: rename the VM in the YAML%s", res, o.Node, declaredAt(d)))
	case !managed(o):
		b.finding(SeverityWarning, RuleUnmanagedVM, res, c,
			fmt.Sprintf("%s: a VM with this name already exists on node %s but tlreconcile does not manage it (no tlreconcile annotations), so it is left untouched; rename the VM in the YAML, or remove or rename the existing VM outside tlreconcile", res, o.Node))
	default:
		b.existing(cp, d, o)
	}
}

func declaredAt(d *spec.VM) string {
	if d.Pos.File == "" {
		return ""
	}
	return fmt.Sprintf(" (declared at %s:%d)", d.Pos.File, d.Pos.Line)
}

// createSteps appends the full create sequence: create-vm (Off, Generation 2,
// annotated) → set-secure-boot → ensure-key-protector → enable-tpm →
// set-security → start-vm → set-annotations. On a platform whose security
// profile is fixed at create, createWhole plans it instead.
func (b *builder) createSteps(k *chain, cp *clusterPlan, d *spec.VM) {
	if cp.prof.IsCreateOnly(drivers.SettingVTPM) {
		b.createWhole(k, cp, d)
		return
	}
	node, dep, blocked := cp.pickNode(d)
	hash := d.Hash()
	st := securityType(d)
	k.add(drivers.OpCreateVM, &drivers.Params{
		Generation:   2,
		SecurityType: st,
		Image:        b.shared.image(d.Image),
		Processors:   d.Processors,
		MemoryMB:     d.MemoryMB,
		TargetNode:   node,
		Annotations:  &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: hash, Protect: d.Protect, Node: node},
	}, Step{
		DependsOn: []string{dep},
		Blocked:   blocked,
		Reason:    fmt.Sprintf("create a Generation 2 %s VM%s, Off, %d processors, %d MB, annotated as managed by tlreconcile from birth", st, onNode(node), d.Processors, d.MemoryMB),
	})
	k.add(drivers.OpSetSecureBoot, b.shared.secureBootParams(d),
		Step{RequiresPowerOff: true, Reason: "set " + secureBootWords(d.SecureBoot.Enabled, d.SecureBoot.Template) + " before the vTPM is initialised"})
	if d.VTPM.Enabled || d.EncryptStateAndMigrationTraffic {
		k.add(drivers.OpEnsureKeyProtector, b.shared.none(), Step{RequiresPowerOff: true, Reason: "create the local key protector that the vTPM and state encryption need (before Enable-VMTPM)"})
	}
	if d.VTPM.Enabled {
		k.add(drivers.OpEnableTPM, nil, Step{RequiresPowerOff: true, Reason: "enable the vTPM; its identity is recorded once apply has verified it"})
	}
	k.add(drivers.OpSetSecurity, b.shared.securityParams(d.EncryptStateAndMigrationTraffic, !d.VBS),
		Step{RequiresPowerOff: true, Reason: fmt.Sprintf("set encryptStateAndMigrationTraffic %t and vbs %s", d.EncryptStateAndMigrationTraffic, vbsWords(!d.VBS))})
	if wantPower(d) == drivers.PowerRunning {
		k.add(drivers.OpStartVM, nil, Step{Reason: "start the VM (power: Running)"})
	}
	k.add(drivers.OpSetAnnotations, &drivers.Params{Annotations: &drivers.Annotations{
		ManagedBy: drivers.ManagedBy, SpecHash: hash, Protect: d.Protect, Node: node,
	}}, Step{Reason: "record the spec hash, protect flag and the new vTPM identity that apply verifies"})
}

func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " on " + node
}

// replaceReasons lists why d cannot be reached by changing o in place.
func replaceReasons(d *spec.VM, o *drivers.VM, prof drivers.Profile) []string {
	why := createOnlyReasons(d, o, prof)
	if o.Generation == 1 {
		why = append(why, "generation is 1, want 2: Secure Boot and a vTPM need a Generation 2 VM and Hyper-V cannot convert one")
	}
	if o.SecurityType != "" && o.SecurityType != securityType(d) {
		why = append(why, fmt.Sprintf("securityType is %s, want %s: the security type is fixed when a VM is created", o.SecurityType, securityType(d)))
	}
	return why
}

// replace plans delete-vm then the create sequence.
func (b *builder) replace(cp *clusterPlan, d *spec.VM, o *drivers.VM, why []string, protect bool) {
	res := "vm/" + d.Name
	ch := &Change{Resource: res, Cluster: cp.spec.Name, Action: ActionReplace, Reasons: why}
	k := b.newChain(ch, d.Name)
	b.stopBeforeDelete(k, o)
	del := Step{Destructive: true, Reason: "delete the VM to recreate it: its disks' guest state and every secret sealed to its vTPM are lost"}
	if protect {
		del.Blocked = protectBlock(res, "replacing it")
	}
	k.add(drivers.OpDeleteVM, nil, del)
	b.createSteps(k, cp, d)
	b.attest(cp, k, d, nil, true, d.Placement.Node)
	ch.Expect = cp.expect(d, "")
	propagateBlocked(ch, false)
	b.add(ch)
}

// prune plans the delete of a managed VM no longer declared (--prune).
func (b *builder) prune(cp *clusterPlan, o *drivers.VM) {
	res := "vm/" + o.Name
	ch := &Change{Resource: res, Cluster: cp.spec.Name, Action: ActionDelete,
		Reasons: []string{"managed by tlreconcile and no longer declared in the YAML (--prune)"}}
	k := b.newChain(ch, o.Name)
	b.stopBeforeDelete(k, o)
	del := Step{Destructive: true, Reason: "delete the VM: every secret sealed to its vTPM is lost"}
	if o.Annotations.Protect {
		del.Blocked = block(BlockProtected, fmt.Sprintf("%s is protected (protect: true is recorded on the VM); declare it again with protect: false and apply that first, then plan with --prune and apply with --allow-destructive", res))
	}
	k.add(drivers.OpDeleteVM, nil, del)
	propagateBlocked(ch, false)
	b.add(ch)
}

func (b *builder) stopBeforeDelete(k *chain, o *drivers.VM) {
	if o.Power == drivers.PowerOff {
		return
	}
	s := Step{Disruptive: true, Reason: fmt.Sprintf("power is %s: Hyper-V deletes a VM only while it is Off", o.Power)}
	if o.Power == drivers.PowerOther {
		s.Blocked = block(BlockPowerTransitional, fmt.Sprintf("the VM is in state %s (starting, stopping, saving or failed); plan again once it is Running or Off", o.Power))
	}
	k.add(drivers.OpStopVM, nil, s)
}

// secureBootParams names the template only when Secure Boot is on: a template
// change is refused once the vTPM is initialised, and is meaningless when off.
func secureBootParams(d *spec.VM) *drivers.Params {
	p := &drivers.Params{SecureBoot: drivers.Bool(d.SecureBoot.Enabled)}
	if d.SecureBoot.Enabled {
		p.SecureBootTemplate = d.SecureBoot.Template
	}
	return p
}

func expectFor(d *spec.VM, identity string) *Expect {
	e := &Expect{
		Power:        wantPower(d),
		Generation:   2,
		SecurityType: securityType(d),
		SecureBoot:   drivers.Bool(d.SecureBoot.Enabled),
		TPMEnabled:   drivers.Bool(d.VTPM.Enabled),
		EncryptState: drivers.Bool(d.EncryptStateAndMigrationTraffic),
		VBSOptOut:    drivers.Bool(!d.VBS),
		Processors:   d.Processors,
		MemoryMB:     d.MemoryMB,
		Node:         d.Placement.Node,
		VTPMIdentity: identity,
	}
	if d.SecureBoot.Enabled {
		e.SecureBootTemplate = d.SecureBoot.Template
	}
	return e
}

func onOff(b bool) string {
	if b {
		return "On"
	}
	return "Off"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func vbsWords(optOut bool) string {
	if optOut {
		return "opted out"
	}
	return "allowed"
}

func secureBootWords(enabled bool, template string) string {
	if !enabled {
		return "Secure Boot Off"
	}
	return "Secure Boot On with template " + template
}
