package plan

import (
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// existing plans a declared VM that tlreconcile manages: the identity
// findings, then the release of a protection, a replace or an update in place.
func (b *builder) existing(cp *clusterPlan, d *spec.VM, o *drivers.VM) {
	res, c := "vm/"+d.Name, cp.spec.Name
	id := b.identityOf(c, d, o)
	if f := identityFinding(res, c, o, id); f != nil {
		b.plan.Findings = append(b.plan.Findings, *f)
	}
	b.attestFindings(cp, d, o)
	why := replaceReasons(d, o, cp.prof)
	if guarded := guardedChange(d, o, why); guarded != "" {
		b.releaseProtect(cp, d, o, guarded)
		return
	}
	if len(why) > 0 {
		b.replace(cp, d, o, why, d.Protect || o.Annotations.Protect)
		return
	}
	b.update(cp, d, o, id)
}

// addDrift appends each drift ("" none), with its cause, to the change's reasons.
func addDrift(ch *Change, cause string, drift ...string) {
	for _, r := range drift {
		if r != "" {
			ch.Reasons = append(ch.Reasons, r+cause)
		}
	}
}

// update plans the in-place change of o to d: file access, then the setting
// steps inside one power window, the move, the start, and the record.
func (b *builder) update(cp *clusterPlan, d *spec.VM, o *drivers.VM, id identity) {
	ch := &Change{Resource: "vm/" + d.Name, Cluster: cp.spec.Name, Action: ActionUpdate, Reasons: []string{}}
	k := b.newChain(ch, d.Name)
	b.fileAccess(cp, k, o)

	set := settings(d, o, guard{res: ch.Resource, protect: d.Protect || o.Annotations.Protect, prof: cp.prof})
	w := newPowerWindow(o.Power, wantPower(d), set[:])
	if w.stop {
		k.add(drivers.OpStopVM, nil, w.stopStep())
	}
	for _, s := range set {
		if s.planned() {
			k.addPending(s.step)
		}
	}
	pl := cp.placementOf(d, o, w.keepsRunning())
	if pl.move != nil {
		k.addPending(*pl.move)
	}
	if w.start {
		dep, blocked := cp.nodeReady(pl.node, needsAgent(d))
		s := w.startStep(blocked)
		s.DependsOn = []string{dep}
		k.add(drivers.OpStartVM, nil, s)
	}
	newID := newIdentity(set[:])
	rec := recordFor(d, o, id, newID, pl.node)
	cause := rec.driftCause(b.opts.Resumed[drivers.VMResource(cp.spec.Name, d.Name).Key()])
	for _, s := range set {
		addDrift(ch, cause, s.drift[:]...)
	}
	addDrift(ch, cause, w.drift(), pl.drift)
	k.setAnnotations(rec, o)
	b.attest(cp, k, d, o, w.start || pl.move != nil, pl.node)
	if len(ch.Steps) == 0 {
		b.plan.Summary.Noop++
		return
	}
	ch.Expect = cp.expect(d, id.expect(newID))
	propagateBlocked(ch, w.want == drivers.PowerOff)
	b.add(ch)
}
