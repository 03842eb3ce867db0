package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simAgentOptions are the flags of `tlreconcile sim agent`.
type simAgentOptions struct {
	simOptions
	node, state string
}

func newSimAgentCmd(root *rootOptions) *cobra.Command {
	o := &simAgentOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "agent --node NODE --state running|stopped|absent",
		Short: "Set the IgvmAgent service state of a node",
		Long: `agent sets a node's IgvmAgent. Stopped: trusted-launch VMs cannot start on or move to
the node and their vTPM identity there is unknown; the plan starts the agent again.
Absent: the node is blocked for trusted-launch VMs until it is redeployed.`,
		Example: `  tlreconcile sim agent --node node2 --state stopped
  tlreconcile sim agent --cluster hci-west --node node3 --state absent`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node whose agent to set")
	cmd.Flags().StringVar(&o.state, "state", "", "running, stopped or absent")
	return cmd
}

// Validate checks the node and the agent state before any I/O.
func (o *simAgentOptions) Validate() error {
	if o.node == "" {
		return errors.New("sim agent: name the node: --node NODE")
	}
	return oneOf("sim agent", "state", o.state, string(drivers.AgentRunning), string(drivers.AgentStopped), string(drivers.AgentAbsent))
}

// Run sets the node's IgvmAgent state.
func (o *simAgentOptions) Run(context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (view.SimChange, error) {
		err := d.SetAgent(cluster, o.node, drivers.AgentState(o.state))
		return view.SimChange{Resource: "node/" + o.node, Summary: "IgvmAgent " + o.state}, err
	})
}
