package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simHostAgentOptions are the flags of `tlreconcile sim stop-agent` and
// `sim start-agent`, which differ only in the state they set.
type simHostAgentOptions struct {
	azlOptions
	command     string
	node, agent string
	state       cluster.AgentState
}

// hostAgents are the agents the commands take, as the platform spells them.
var hostAgents = []cluster.Agent{cluster.AgentIGVm, cluster.AgentNode, cluster.AgentCloud}

func newSimStopAgentCmd(root *rootOptions) *cobra.Command {
	o := &simHostAgentOptions{azlOptions: azlOptions{root: root}, command: "sim stop-agent", state: cluster.AgentStopped}
	cmd := &cobra.Command{
		Use:   "stop-agent --agent IGVmAgent|wssdagent|wssdcloudagent [--node NODE]",
		Short: "Stop a host agent (IGVmAgent, wssdagent, cloud agent) on a node (sim serve)",
		Long: `stop-agent stops a host agent of the simulated Azure Local, as a crash of the service would.
VMs that run keep running, but:
  IGVmAgent       no trusted-launch VM can be created on, started on or moved to the node;
  wssdagent       the MOC node agent: as IGVmAgent, and the node's VMs cannot be stopped or
                  deleted ("VM start, stop or delete may fail due to the wssdagent node agent
                  crashing", known-issues.md);
  wssdcloudagent  the MOC cloud agent (on one node; --node may be omitted): no VM of the
                  cluster can be created or deleted.
Start it again with 'sim start-agent'. Agent names are case-insensitive.`,
		Example: `  tlreconcile sim stop-agent --node node2 --agent IGVmAgent
  tlreconcile sim stop-agent --node node1 --agent wssdagent
  tlreconcile sim stop-agent --agent wssdcloudagent`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.flags(cmd)
	return azlCommand(cmd)
}

func (o *simHostAgentOptions) flags(cmd *cobra.Command) {
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node the agent runs on (may be omitted for wssdcloudagent)")
	cmd.Flags().StringVar(&o.agent, "agent", "", "IGVmAgent, wssdagent or wssdcloudagent")
}

// Validate checks the agent and the node before anything is opened.
func (o *simHostAgentOptions) Validate() error {
	a, ok := hostAgent(o.agent)
	if !ok {
		return fmt.Errorf("%s: --agent %q is unknown; use IGVmAgent, wssdagent or wssdcloudagent", o.command, o.agent)
	}
	if strings.TrimSpace(o.node) == "" && a != cluster.AgentCloud {
		return fmt.Errorf("%s: name the node %s runs on: --node NODE", o.command, a)
	}
	return nil
}

func hostAgent(name string) (cluster.Agent, bool) {
	for _, a := range hostAgents {
		if strings.EqualFold(string(a), name) {
			return a, true
		}
	}
	return "", false
}

// Run sets the agent's state and says what it was.
func (o *simHostAgentOptions) Run(ctx context.Context) error {
	a, _ := hostAgent(o.agent)
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		name, err := o.clusterName(h)
		if err != nil {
			return view.SimChange{}, err
		}
		st, err := h.Observe(ctx, name, cluster.ObserveOptions{})
		if err != nil {
			return view.SimChange{}, err
		}
		n, err := agentNode(st, o.node, a)
		if err != nil {
			return view.SimChange{}, err
		}
		was := n.Agents[a]
		if was == o.state {
			return view.SimChange{}, fmt.Errorf("node/%s: %s is %s already: nothing to change", n.Name, a, was)
		}
		if err := h.SetAgent(ctx, name, n.Name, a, o.state); err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "node/" + n.Name, Summary: fmt.Sprintf("%s %s (was %s)", a, o.state, was)}, nil
	})
}

// agentNode is the named node, or for the cloud agent without --node the
// node it is installed on.
func agentNode(st cluster.ClusterState, node string, a cluster.Agent) (cluster.NodeState, error) {
	if node != "" {
		return nodeState(st, node)
	}
	for _, n := range st.Nodes {
		if s, ok := n.Agents[a]; ok && s != cluster.AgentNotInstalled {
			return n, nil
		}
	}
	return cluster.NodeState{}, errors.New("cluster " + st.Name + ": no node has " + string(a) + " installed")
}
