package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// placement is what placement.node decides for an existing VM.
type placement struct {
	node  string   // the node the VM is on after the update
	move  *pending // nil: the VM stays where it is
	drift string   // "" when the VM stays
}

// placementOf moves o to d's placement.node when it is elsewhere: live when
// the VM keeps running through the update (after the IPsec of both nodes
// this plan enables), quick otherwise, and only to a node that can run it.
func (cp *clusterPlan) placementOf(d *spec.VM, o *drivers.VM, live bool) placement {
	target := d.Placement.Node
	if target == "" || o.Node == target {
		return placement{node: o.Node}
	}
	dep, blocked := cp.nodeReady(target, needsAgent(d))
	s := Step{DependsOn: []string{dep}, Blocked: blocked}
	params := &drivers.Params{TargetNode: target, MigrationType: "Quick"}
	if live {
		params.MigrationType = "Live"
		s.DependsOn = append(s.DependsOn, cp.ipsec[o.Node], cp.ipsec[target])
		s.Reason = fmt.Sprintf("node is %s, want %s (placement.node): live migration, the VM keeps running and its vTPM state moves with it", orNone(o.Node), target)
	} else {
		s.Reason = fmt.Sprintf("node is %s, want %s (placement.node): moved while not running", orNone(o.Node), target)
	}
	return placement{
		node:  target,
		move:  &pending{drivers.OpMoveVM, params, s},
		drift: fmt.Sprintf("node is %s, want %s (placement.node)", orNone(o.Node), target),
	}
}
