package plan

import (
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// vmRecord is the change an update makes to tlreconcile's record on the VM
// (its annotations).
type vmRecord struct {
	old, new    *drivers.Annotations
	newIdentity bool // a step gives the vTPM a new identity: apply records it
	lost        bool // the current identity is lost: the last verified one is kept
}

// recordFor is the record d's update leaves on o: the spec hash and protect
// flag of the YAML, the identity to keep (none when a step gives a new one)
// and the node the VM ends on.
func recordFor(d *spec.VM, o *drivers.VM, id identity, newIdentity bool, node string) vmRecord {
	keep := id.keep()
	if newIdentity {
		keep = ""
	}
	return vmRecord{
		old:         o.Annotations,
		new:         &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: d.Hash(), Protect: d.Protect, VTPMIdentity: keep, Node: node},
		newIdentity: newIdentity,
		lost:        id.lost,
	}
}

// driftCause says why the VM differs from the YAML. An interrupted apply
// that left steps of this VM in the journal (resumed) did it, not someone
// else. Otherwise the cause is known only when the YAML is what tlreconcile
// last applied (the recorded spec hash is the YAML's): then the VM was changed
// behind its back. After a YAML edit a difference may be either, so nothing
// is claimed.
func (r vmRecord) driftCause(resumed bool) string {
	switch {
	case resumed:
		return " (left part-done by an interrupted tlreconcile apply)"
	case r.old.SpecHash != r.new.SpecHash:
		return ""
	}
	return " (changed outside tlreconcile)"
}

// needed: the record is written after any other step (it carries the spec
// hash of what was applied), or alone when only the record differs.
func (r vmRecord) needed(otherSteps bool) bool { return otherSteps || *r.old != *r.new }

func (r vmRecord) step() pending {
	return pending{drivers.OpSetAnnotations, &drivers.Params{Annotations: r.new},
		Step{Reason: annotationReason(r.old, r.new, r.newIdentity, r.lost)}}
}

// setAnnotations appends the set-annotations step when r is needed; a change that
// only writes the record gets a reason saying what it records.
func (k *chain) setAnnotations(r vmRecord, o *drivers.VM) {
	if !r.needed(len(k.ch.Steps) > 0) {
		return
	}
	if len(k.ch.Reasons) == 0 {
		k.ch.Reasons = append(k.ch.Reasons, annotationChangeReason(r.old, r.new, o))
	}
	k.addPending(r.step())
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
		parts = append(parts, "vTPM identity "+drivers.Identity(new.VTPMIdentity).Short())
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
	case old.VTPMIdentity != new.VTPMIdentity && new.VTPMIdentity != "" && new.VTPMIdentity != o.VTPMIdentity:
		return fmt.Sprintf("record the vTPM identity %s that the interrupted apply verified (it never got to record it); the VM's is %s now", drivers.Identity(new.VTPMIdentity).Short(), drivers.Identity(o.VTPMIdentity).Short())
	case old.VTPMIdentity != new.VTPMIdentity:
		return fmt.Sprintf("record the vTPM identity %s observed on node %s", drivers.Identity(new.VTPMIdentity).Short(), o.Node)
	}
	return "update tlreconcile's record on the VM"
}
