package plan

import (
	"fmt"
	"strings"

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
		ch.Expect = expectFor(d, "")
		propagateBlocked(ch, false)
		b.add(ch)
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

func (b *builder) imageFinding(cluster string, d *spec.VM) {
	if b.catalog == nil {
		return
	}
	img, ok := b.catalog[d.Image]
	if !ok || img.BuiltIn {
		return
	}
	where := ""
	if img.Pos.File != "" {
		where = fmt.Sprintf(" (added by the ImageCatalog at %s:%d)", img.Pos.File, img.Pos.Line)
	}
	b.finding(SeverityWarning, RuleImageOutsideCatalog, "vm/"+d.Name, cluster,
		fmt.Sprintf("vm/%s: image %s/%s/%s/%s is outside the built-in support list%s; Azure Local supports trusted launch only with the built-in Azure Marketplace images", d.Name, d.Image.Publisher, d.Image.Offer, d.Image.Sku, d.Image.Version, where))
}

// createSteps appends the full create sequence: create-vm (Off, Generation 2,
// annotated) → set-secure-boot → ensure-key-protector → enable-tpm →
// set-security → start-vm → set-annotations.
func (b *builder) createSteps(k *chain, cp *clusterPlan, d *spec.VM) {
	node, dep, blocked := cp.pickNode(d)
	hash := d.Hash()
	st := securityType(d)
	k.add(drivers.OpCreateVM, &drivers.Params{
		Generation:   2,
		SecurityType: st,
		Image:        &drivers.Image{Publisher: d.Image.Publisher, Offer: d.Image.Offer, Sku: d.Image.Sku, Version: d.Image.Version},
		Processors:   d.Processors,
		MemoryMB:     d.MemoryMB,
		TargetNode:   node,
		Annotations:  &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: hash, Protect: d.Protect, Node: node},
	}, Step{
		DependsOn: []string{dep},
		Blocked:   blocked,
		Reason:    fmt.Sprintf("create a Generation 2 %s VM%s, Off, %d processors, %d MB, annotated as managed by tlreconcile from birth", st, onNode(node), d.Processors, d.MemoryMB),
	})
	k.add(drivers.OpSetSecureBoot, secureBootParams(d),
		Step{RequiresPowerOff: true, Reason: "set " + secureBootWords(d.SecureBoot.Enabled, d.SecureBoot.Template) + " before the vTPM is initialised"})
	if d.VTPM.Enabled || d.EncryptStateAndMigrationTraffic {
		k.add(drivers.OpEnsureKeyProtector, &drivers.Params{}, Step{RequiresPowerOff: true, Reason: "create the local key protector that the vTPM and state encryption need (before Enable-VMTPM)"})
	}
	if d.VTPM.Enabled {
		k.add(drivers.OpEnableTPM, nil, Step{RequiresPowerOff: true, Reason: "enable the vTPM; its identity is recorded once apply has verified it"})
	}
	k.add(drivers.OpSetSecurity, &drivers.Params{EncryptState: drivers.Bool(d.EncryptStateAndMigrationTraffic), VBSOptOut: drivers.Bool(!d.VBS)},
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

// existing plans a declared VM that tlreconcile manages.
func (b *builder) existing(cp *clusterPlan, d *spec.VM, o *drivers.VM) {
	a := o.Annotations
	res := "vm/" + d.Name
	c := cp.spec.Name
	hash := d.Hash()
	// The cause of a difference is known only when the YAML is what tlreconcile
	// last applied: then the VM was changed behind its back. After a YAML edit
	// a difference may be either, so nothing is claimed.
	cause := " (changed outside tlreconcile)"
	if a.SpecHash != hash {
		cause = ""
	}
	protect := d.Protect || a.Protect
	trusted := needsAgent(d)

	// vTPM identity: "" observed means unknown (the owner node cannot unlock the
	// vTPM), never "lost".
	rec, cur := a.VTPMIdentity, o.VTPMIdentity
	lost := rec != "" && cur != "" && rec != cur && !b.opts.Accept.Accepts(drivers.VMResource(c, d.Name).Key(), cur)
	keepID := cur
	if lost || cur == "" {
		keepID = rec
	}
	switch {
	case lost:
		b.finding(SeverityError, RuleVTPMStateLost, res, c,
			fmt.Sprintf("%s (%s: vTPM identity %s was last verified on node %s, now %s on node %s)", VTPMStateLostMessage, res, short(rec), a.Node, short(cur), o.Node))
	case a.Node != "" && a.Node != o.Node && cur != "" && rec != "" && rec != cur:
		b.finding(SeverityInfo, RuleMovedByCluster, res, c,
			fmt.Sprintf("%s was moved by the cluster from node %s to node %s (live migration or failover); its new vTPM identity %s was accepted, so it and the new node are recorded", res, a.Node, o.Node, short(cur)))
	case a.Node != "" && a.Node != o.Node && cur != "":
		b.finding(SeverityInfo, RuleMovedByCluster, res, c,
			fmt.Sprintf("%s was moved by the cluster from node %s to node %s (live migration or failover); its vTPM identity is unchanged, so the new node is recorded", res, a.Node, o.Node))
	case a.Node != "" && a.Node != o.Node:
		b.finding(SeverityInfo, RuleMovedByCluster, res, c,
			fmt.Sprintf("%s was moved by the cluster from node %s to node %s; its vTPM identity cannot be read there yet (the node cannot unlock the vTPM), so it is compared once the node's IgvmAgent runs", res, a.Node, o.Node))
	}

	why := replaceReasons(d, o)
	// A guarded change on a VM that is protected only by the record on it (the
	// YAML now says protect: false) takes two applies: this plan only records
	// protect: false, and the next plan holds the guarded change. Deleting or
	// editing the YAML therefore never skips the protection silently.
	if a.Protect && !d.Protect {
		guarded := ""
		switch {
		case len(why) > 0:
			guarded = "a replace (" + strings.Join(why, "; ") + ")"
		case !d.VTPM.Enabled && o.TPMEnabled:
			guarded = "disabling the vTPM"
		case d.SecureBoot.Enabled && o.SecureBootTemplate != d.SecureBoot.Template && o.VTPMInitialized:
			guarded = "a vTPM reset (the Secure Boot template changes after the vTPM was initialised)"
		}
		if guarded != "" {
			b.releaseProtect(cp, d, o, guarded)
			return
		}
	}
	if len(why) > 0 {
		b.replace(cp, d, o, why, protect)
		return
	}

	ch := &Change{Resource: res, Cluster: c, Action: ActionUpdate, Reasons: []string{}}
	k := b.newChain(ch, d.Name)
	if o.FileAccess == drivers.FileAccessViolation {
		if cp.fileAccessEnforced() {
			ch.Reasons = append(ch.Reasons, "vmFileAccess: the VM's state files are readable by more than host administrators, want host administrators only")
			k.add(drivers.OpRestrictFileAccess, nil, Step{Reason: "the VM's configuration and state files (which hold the vTPM) are readable by more than host administrators, want host administrators only (vmFileAccess: hostAdminsOnly)"})
		} else {
			b.finding(SeverityWarning, RuleFileAccess, res, c,
				fmt.Sprintf("%s: its configuration and state files (which hold the vTPM) are readable by more than host administrators and vmFileAccess: ignore accepts it; set vmFileAccess: hostAdminsOnly to fix it", res))
		}
	}

	// Settings, in DESIGN order. Off-only ones go in one stop/start window.
	type pending struct {
		kind   drivers.OpKind
		params *drivers.Params
		step   Step
	}
	settings := make([]pending, 0, 8)
	newIdentity := false
	drift := func(s string) { ch.Reasons = append(ch.Reasons, s+cause) }

	templateChange := d.SecureBoot.Enabled && o.SecureBootTemplate != d.SecureBoot.Template
	if templateChange && o.VTPMInitialized {
		// The template is measured into the vTPM: it can change only after a
		// vTPM reset, which destroys the vTPM's secrets (DESIGN §1).
		newIdentity = true
		s := Step{RequiresPowerOff: true, Destructive: true,
			Reason: fmt.Sprintf("secureBoot.template is %s, want %s, and the vTPM is already initialised: reset the vTPM (new key protector) so the template can change; destroys every secret sealed to the vTPM (BitLocker keys)", orNone(o.SecureBootTemplate), d.SecureBoot.Template)}
		if protect {
			s.Blocked = protectBlock(res, d.Protect, "the vTPM reset")
		}
		settings = append(settings, pending{drivers.OpEnsureKeyProtector, &drivers.Params{Reset: true}, s})
	}
	if o.SecureBoot != d.SecureBoot.Enabled || templateChange {
		var parts []string
		if o.SecureBoot != d.SecureBoot.Enabled {
			parts = append(parts, fmt.Sprintf("secureBoot is %s, want %s", onOff(o.SecureBoot), onOff(d.SecureBoot.Enabled)))
		}
		if d.SecureBoot.Enabled && o.SecureBootTemplate != d.SecureBoot.Template {
			parts = append(parts, fmt.Sprintf("secureBoot.template is %s, want %s", orNone(o.SecureBootTemplate), d.SecureBoot.Template))
		}
		for _, p := range parts {
			drift(p)
		}
		settings = append(settings, pending{drivers.OpSetSecureBoot, secureBootParams(d),
			Step{RequiresPowerOff: true, Reason: strings.Join(parts, "; ") + " (Hyper-V changes Secure Boot only while the VM is Off)"}})
	}
	if (d.VTPM.Enabled || d.EncryptStateAndMigrationTraffic) && !o.KeyProtector && !(templateChange && o.VTPMInitialized) {
		settings = append(settings, pending{drivers.OpEnsureKeyProtector, &drivers.Params{},
			Step{RequiresPowerOff: true, Reason: "the VM has no key protector, which Enable-VMTPM and state encryption need: create one (needs the VM Off)"}})
	}
	switch {
	case d.VTPM.Enabled && !o.TPMEnabled:
		drift("vtpm is disabled, want enabled")
		newIdentity = true
		settings = append(settings, pending{drivers.OpEnableTPM, nil,
			Step{RequiresPowerOff: true, Reason: "vtpm is disabled, want enabled; its identity is recorded once apply has verified it"}})
	case !d.VTPM.Enabled && o.TPMEnabled:
		drift("vtpm is enabled, want disabled")
		newIdentity = true
		s := Step{RequiresPowerOff: true, Destructive: true,
			Reason: "vtpm is enabled, want disabled: destroys every secret sealed to the vTPM (BitLocker keys)"}
		if protect {
			s.Blocked = protectBlock(res, d.Protect, "disabling its vTPM")
		}
		settings = append(settings, pending{drivers.OpDisableTPM, nil, s})
	}
	vbsChange := o.VBSOptOut != !d.VBS
	if o.EncryptState != d.EncryptStateAndMigrationTraffic || vbsChange {
		var parts []string
		if o.EncryptState != d.EncryptStateAndMigrationTraffic {
			parts = append(parts, fmt.Sprintf("encryptStateAndMigrationTraffic is %t, want %t", o.EncryptState, d.EncryptStateAndMigrationTraffic))
		}
		if vbsChange {
			parts = append(parts, fmt.Sprintf("vbs is %s, want %s", vbsWords(o.VBSOptOut), vbsWords(!d.VBS)))
		}
		for _, p := range parts {
			drift(p)
		}
		settings = append(settings, pending{drivers.OpSetSecurity,
			&drivers.Params{EncryptState: drivers.Bool(d.EncryptStateAndMigrationTraffic), VBSOptOut: drivers.Bool(!d.VBS)},
			Step{RequiresPowerOff: vbsChange, Reason: strings.Join(parts, "; ")}})
	}
	if o.Processors != d.Processors {
		p := fmt.Sprintf("processors is %d, want %d", o.Processors, d.Processors)
		drift(p)
		settings = append(settings, pending{drivers.OpSetProcessor, &drivers.Params{Processors: d.Processors},
			Step{RequiresPowerOff: true, Reason: p + " (needs the VM Off)"}})
	}
	if o.MemoryMB != d.MemoryMB {
		p := fmt.Sprintf("memoryMB is %d, want %d", o.MemoryMB, d.MemoryMB)
		drift(p)
		settings = append(settings, pending{drivers.OpSetMemory, &drivers.Params{MemoryMB: d.MemoryMB},
			Step{RequiresPowerOff: true, Reason: p + " (static memory changes need the VM Off)"}})
	}

	want := wantPower(d)
	power := o.Power
	anyOff := false
	var offOps []string
	for _, s := range settings {
		if s.step.RequiresPowerOff {
			anyOff = true
			offOps = append(offOps, string(s.kind))
		}
	}
	needStop := power != drivers.PowerOff && (anyOff || want == drivers.PowerOff)
	needStart := want == drivers.PowerRunning && (needStop || power != drivers.PowerRunning)
	if power != want {
		drift(fmt.Sprintf("power is %s, want %s", power, want))
	}
	transitional := fmt.Sprintf("the VM is in state %s (starting, stopping, saving or failed); plan again once it is Running or Off", power)

	if needStop {
		s := Step{Disruptive: true}
		switch {
		case power == drivers.PowerOther:
			s.Blocked = block(BlockPowerTransitional, transitional)
			s.Reason = "stop the VM"
		case power == drivers.PowerSaved && anyOff:
			s.Reason = fmt.Sprintf("power is Saved: stop-vm discards the saved memory state so that %s can run while the VM is Off; it then boots fresh", strings.Join(offOps, ", "))
		case power == drivers.PowerPaused && anyOff:
			s.Reason = fmt.Sprintf("power is Paused: stop-vm turns it off (its in-memory state is lost) so that %s can run while the VM is Off", strings.Join(offOps, ", "))
		case want == drivers.PowerOff:
			s.Reason = fmt.Sprintf("power is %s, want Off", power)
		default:
			s.Reason = fmt.Sprintf("stop the VM once for all its Off-only changes (%s); start-vm starts it again", strings.Join(offOps, ", "))
		}
		k.add(drivers.OpStopVM, nil, s)
	}
	for _, s := range settings {
		k.add(s.kind, s.params, s.step)
	}
	finalNode := o.Node
	if d.Placement.Node != "" && o.Node != d.Placement.Node {
		target := d.Placement.Node
		finalNode = target
		drift(fmt.Sprintf("node is %s, want %s (placement.node)", orNone(o.Node), target))
		dep, blocked := cp.nodeReady(target, trusted)
		live := power == drivers.PowerRunning && !needStop
		s := Step{DependsOn: []string{dep}, Blocked: blocked}
		params := &drivers.Params{TargetNode: target, MigrationType: "Quick"}
		if live {
			params.MigrationType = "Live"
			s.DependsOn = append(s.DependsOn, cp.ipsec[o.Node], cp.ipsec[target])
			s.Reason = fmt.Sprintf("node is %s, want %s (placement.node): live migration, the VM keeps running and its vTPM state moves with it", orNone(o.Node), target)
		} else {
			s.Reason = fmt.Sprintf("node is %s, want %s (placement.node): moved while not running", orNone(o.Node), target)
		}
		k.add(drivers.OpMoveVM, params, s)
	}
	if needStart {
		dep, blocked := cp.nodeReady(finalNode, trusted)
		s := Step{DependsOn: []string{dep}, Blocked: blocked, Disruptive: power == drivers.PowerRunning}
		switch {
		case power == drivers.PowerRunning:
			s.Reason = "start the VM again after its Off-only changes (power: Running)"
		case power == drivers.PowerOther:
			s.Reason = "start the VM (power: Running)"
			if s.Blocked == nil {
				s.Blocked = block(BlockPowerTransitional, transitional)
			}
		case needStop:
			s.Reason = "boot the VM after its Off-only changes (power: Running)"
		case power == drivers.PowerSaved:
			s.Reason = "power is Saved, want Running: start-vm resumes it from its saved state"
		case power == drivers.PowerPaused:
			s.Reason = "power is Paused, want Running: start-vm resumes it"
		default:
			s.Reason = fmt.Sprintf("power is %s, want Running", power)
		}
		k.add(drivers.OpStartVM, nil, s)
	}

	annID := keepID
	if newIdentity {
		annID = ""
	}
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: hash, Protect: d.Protect, VTPMIdentity: annID, Node: finalNode}
	if len(ch.Steps) > 0 || *a != *ann {
		if len(ch.Reasons) == 0 {
			ch.Reasons = append(ch.Reasons, annotationChangeReason(a, ann, o))
		}
		k.add(drivers.OpSetAnnotations, &drivers.Params{Annotations: ann}, Step{Reason: annotationReason(a, ann, newIdentity, lost)})
	}
	if len(ch.Steps) == 0 {
		b.plan.Summary.Noop++
		return
	}
	expID := cur
	switch {
	case newIdentity:
		expID = ""
	case cur == "":
		expID = rec
	}
	ch.Expect = expectFor(d, expID)
	propagateBlocked(ch, want == drivers.PowerOff)
	b.add(ch)
}

// replaceReasons lists why d cannot be reached by changing o in place.
func replaceReasons(d *spec.VM, o *drivers.VM) []string {
	var why []string
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
		del.Blocked = protectBlock(res, d.Protect, "replacing it")
	}
	k.add(drivers.OpDeleteVM, nil, del)
	b.createSteps(k, cp, d)
	ch.Expect = expectFor(d, "")
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

// protectBlock is why a guarded step of a VM whose YAML says protect: true is blocked.
func protectBlock(res string, _ bool, what string) *Blocked {
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

func annotationReason(old, new *drivers.Annotations, newIdentity, lost bool) string {
	var parts []string
	if old.SpecHash != new.SpecHash {
		parts = append(parts, "the spec hash")
	}
	if old.Protect != new.Protect {
		parts = append(parts, fmt.Sprintf("protect: %t", new.Protect))
	}
	switch {
	case newIdentity:
		parts = append(parts, "the new vTPM identity that apply verifies")
	case old.VTPMIdentity != new.VTPMIdentity:
		parts = append(parts, "vTPM identity "+short(new.VTPMIdentity))
	}
	if old.Node != new.Node {
		parts = append(parts, "node "+new.Node)
	}
	if len(parts) == 0 {
		parts = append(parts, "that the VM matches the YAML")
	}
	r := "record " + strings.Join(parts, ", ")
	if lost {
		r += "; the last verified vTPM identity is kept, because the current one differs (see the vtpm-state-lost finding)"
	}
	return r
}

// annotationChangeReason explains a change that only updates the record on the VM.
func annotationChangeReason(old, new *drivers.Annotations, o *drivers.VM) string {
	switch {
	case old.Node != new.Node && old.Node != "":
		return fmt.Sprintf("moved by the cluster from node %s to node %s: record the new node", old.Node, new.Node)
	case old.SpecHash != new.SpecHash:
		return "the YAML changed but the VM already matches it: record the new spec hash"
	case old.Protect != new.Protect:
		return fmt.Sprintf("record protect: %t on the VM", new.Protect)
	case old.VTPMIdentity != new.VTPMIdentity:
		return fmt.Sprintf("record the vTPM identity %s observed on node %s", short(new.VTPMIdentity), o.Node)
	}
	return "update tlreconcile's record on the VM"
}

func short(id string) string {
	if id == "" {
		return "(none)"
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
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
