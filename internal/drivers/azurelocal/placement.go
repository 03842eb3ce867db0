package azurelocal

import (
	"context"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// A trusted-launch VM needs IGVmAgent and the MOC node agent (wssdagent)
// running on the node it is created or started on (DESIGN §1.1). The plan
// saw the nodes as they were; an agent may have stopped since. Apply asks
// the node again, so such an op is refused with the node and the agent named
// and ErrPrecondition (never retried), instead of failing inside ARM's
// long-running operation with the cluster's own words.

// trustedLaunchAgents are the agents checked, in the order they are named.
var trustedLaunchAgents = []string{azlocal.AgentIGVm, azlocal.AgentNode}

// canHost says why node cannot run a trusted-launch VM now, or nil.
func (c *conn) canHost(ctx context.Context, node string) error {
	s, err := c.node(node)
	if err != nil {
		return err
	}
	var r azlocal.NodeReport
	if err := s.Run(ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{Infrastructure: c.infrastructure(), NoVMs: true}, &r); err != nil {
		return fmt.Errorf("node/%s: %w", node, err)
	}
	return agentsRun(node, &r)
}

// agentsRun says which agent a trusted-launch VM needs does not run on node.
func agentsRun(node string, r *azlocal.NodeReport) error {
	for _, a := range trustedLaunchAgents {
		if st := agentState(r.Agents, a); st != drivers.AgentRunning {
			return fmt.Errorf("node/%s: %s is %s there, so no trusted-launch VM can be created or started on it: start %s on the node, or place the VM on another node: %w",
				node, a, st, a, drivers.ErrPrecondition)
		}
	}
	return nil
}

// ownerView is a VM as its owner node reports it.
type ownerView struct {
	node   string
	report *azlocal.NodeReport
	state  string // Hyper-V's State: Running, Off, Saved, ...
}

// owner finds the node that runs vmID; ok is false when no node answers or
// none has it (ARM's own answer then says why).
func (c *conn) owner(ctx context.Context, vmID string) (ownerView, bool) {
	if vmID == "" {
		return ownerView{}, false
	}
	reports, err := c.vmReports(ctx, vmID)
	if err != nil {
		return ownerView{}, false
	}
	for node, r := range reports {
		for _, v := range r.VMs {
			if strings.EqualFold(v.VMID, vmID) {
				return ownerView{node: node, report: r, state: v.State}, true
			}
		}
	}
	return ownerView{}, false
}
