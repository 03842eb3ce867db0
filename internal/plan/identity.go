package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// identity is what the plan knows of a managed VM's vTPM identity: the one
// recorded on the VM (last verified) and the one observed now. An observed ""
// means unknown (the owner node cannot unlock the vTPM), never "lost".
type identity struct {
	recorded, current string
	// lost: both are known, they differ, and nothing accepts the new one.
	lost bool
}

// identityOf compares the recorded and observed vTPM identity of o; accept
// says whether a changed identity of the VM is recorded as the new one.
func identityOf(o *drivers.VM, accept func(current string) bool) identity {
	id := identity{recorded: o.Annotations.VTPMIdentity, current: o.VTPMIdentity}
	id.lost = id.recorded != "" && id.current != "" && id.changed() && !accept(id.current)
	return id
}

func (b *builder) identityOf(cluster string, d *spec.VM, o *drivers.VM) identity {
	key := drivers.VMResource(cluster, d.Name).Key()
	id := identityOf(o, func(cur string) bool { return b.opts.Accept.Accepts(key, cur) })
	return id.journaled(b.opts.Accept.Only[key])
}

// journaled compares against the identity the journal read right after a
// planned identity change (only) when the VM has none recorded: a create
// whose set-annotations never ran leaves the VM without one, and a different
// identity now is a loss, not a first sighting to record.
func (id identity) journaled(only string) identity {
	if id.recorded == "" && id.current != "" && only != "" && only != id.current {
		id.recorded, id.lost = only, true
	}
	return id
}

func (id identity) changed() bool { return id.recorded != id.current }

// keep is the identity the record on the VM keeps when no step gives the VM
// a new one: the last verified one when the current one is lost or unknown.
func (id identity) keep() string {
	if id.lost || id.current == "" {
		return id.recorded
	}
	return id.current
}

// expect is the identity apply verifies after the change: none when a step
// gives the VM a new identity (apply records it), else the current one, or
// the recorded one when the current one cannot be read.
func (id identity) expect(newIdentity bool) string {
	switch {
	case newIdentity:
		return ""
	case id.current == "":
		return id.recorded
	}
	return id.current
}

// identityFinding reports a lost vTPM identity, or a move by the cluster
// (live migration, failover) since tlreconcile last recorded the VM's node;
// nil when neither happened.
func identityFinding(res, cluster string, o *drivers.VM, id identity) *Finding {
	a := o.Annotations
	moved := a.Node != "" && a.Node != o.Node
	var msg string
	switch {
	case id.lost:
		where := "on node " + a.Node
		if a.Node == "" {
			where = "by the apply that made it"
		}
		return &Finding{Severity: SeverityError, Rule: RuleVTPMStateLost, Resource: res, Cluster: cluster,
			Message: fmt.Sprintf("%s (%s: vTPM identity %s was last verified %s, now %s on node %s)", VTPMStateLostMessage, res, drivers.Identity(id.recorded).Short(), where, drivers.Identity(id.current).Short(), o.Node)}
	case !moved:
		return nil
	case id.current != "" && id.recorded != "" && id.changed():
		msg = fmt.Sprintf("%s was moved by the cluster from node %s to node %s (live migration or failover); its new vTPM identity %s was accepted, so it and the new node are recorded", res, a.Node, o.Node, drivers.Identity(id.current).Short())
	case id.current != "":
		msg = fmt.Sprintf("%s was moved by the cluster from node %s to node %s (live migration or failover); its vTPM identity is unchanged, so the new node is recorded", res, a.Node, o.Node)
	default:
		msg = fmt.Sprintf("%s was moved by the cluster from node %s to node %s; its vTPM identity cannot be read there yet (the node cannot unlock the vTPM), so it is compared once the node's IgvmAgent runs", res, a.Node, o.Node)
	}
	return &Finding{Severity: SeverityInfo, Rule: RuleMovedByCluster, Resource: res, Cluster: cluster, Message: msg}
}
