package main

import (
	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

func newSimStartAgentCmd(root *rootOptions) *cobra.Command {
	o := &simHostAgentOptions{azlOptions: azlOptions{root: root}, command: "sim start-agent", state: cluster.AgentRunning}
	cmd := &cobra.Command{
		Use:   "start-agent --agent IGVmAgent|wssdagent|wssdcloudagent [--node NODE]",
		Short: "Start a host agent on a node (sim serve)",
		Long: `start-agent starts a host agent that 'sim stop-agent' stopped (Start-Service on the node),
so the node can host trusted-launch VMs again (IGVmAgent, wssdagent) or the cluster can
create and delete VMs again (wssdcloudagent; --node may be omitted). Agent names are
case-insensitive.`,
		Example: `  tlreconcile sim start-agent --node node2 --agent IGVmAgent
  tlreconcile sim start-agent --agent wssdcloudagent`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.flags(cmd)
	return azlCommand(cmd)
}
