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

// simFailNodeOptions are the flags of `tlreconcile sim fail-node`.
type simFailNodeOptions struct {
	azlOptions
	node string
}

func newSimFailNodeCmd(root *rootOptions) *cobra.Command {
	o := &simFailNodeOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "fail-node --node NODE [--cluster NAME]",
		Short: "Fail a node; its VMs fail over (sim serve)",
		Long: `fail-node takes a node of the simulated Azure Local down, as a crash or a power loss
would. The cluster fails its VMs over to the other nodes whose IGVmAgent and wssdagent run
(the least loaded first), the Arc resource bridge VM included; a running VM boots there and
keeps its vTPM, because the cluster's key vault still holds its guest state protection key.
A VM with nowhere to go is left Off on the failed node. The line printed says where each
VM went. Bring the node back with 'sim recover-node'.`,
		Example: `  tlreconcile sim fail-node --node node1
  tlreconcile sim fail-node --cluster sim-cluster --node node2`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node to fail")
	return azlCommand(cmd)
}

// Validate checks that the node is named before anything is opened.
func (o *simFailNodeOptions) Validate() error {
	if strings.TrimSpace(o.node) == "" {
		return errors.New("sim fail-node: name the node to fail: --node NODE")
	}
	return nil
}

// Run fails the node and reports where its VMs went.
func (o *simFailNodeOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		name, err := o.clusterName(h)
		if err != nil {
			return view.SimChange{}, err
		}
		before, err := h.Observe(ctx, name, cluster.ObserveOptions{})
		if err != nil {
			return view.SimChange{}, err
		}
		n, err := nodeState(before, o.node)
		if err != nil {
			return view.SimChange{}, err
		}
		if n.Status == cluster.NodeDown {
			return view.SimChange{}, fmt.Errorf("node/%s is down already: recover it first with 'tlreconcile sim recover-node --node %s'", n.Name, n.Name)
		}
		if err := h.FailNode(ctx, name, n.Name); err != nil {
			return view.SimChange{}, err
		}
		after, err := h.Observe(ctx, name, cluster.ObserveOptions{})
		if err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "node/" + n.Name, Summary: "failed (Down); " + failedOver(before, after, n.Name)}, nil
	})
}

// nodeState finds a node by name, or says which nodes there are.
func nodeState(st cluster.ClusterState, name string) (cluster.NodeState, error) {
	var names []string
	for _, n := range st.Nodes {
		if strings.EqualFold(n.Name, name) {
			return n, nil
		}
		names = append(names, n.Name)
	}
	return cluster.NodeState{}, fmt.Errorf("node %q: cluster %s has no such node; its nodes are: %s", name, st.Name, strings.Join(names, ", "))
}

// failedOver says where the VMs that were on node went.
func failedOver(before, after cluster.ClusterState, node string) string {
	now := map[string]cluster.VMState{}
	for _, v := range after.VMs {
		now[v.VMID] = v
	}
	var moves []string
	for _, v := range before.VMs {
		if v.Node != node {
			continue
		}
		a, ok := now[v.VMID]
		switch {
		case !ok:
			moves = append(moves, "vm/"+v.Name+" gone")
		case a.Node == node:
			moves = append(moves, fmt.Sprintf("vm/%s left %s on %s (no node can host it)", v.Name, a.Power, node))
		default:
			moves = append(moves, fmt.Sprintf("vm/%s failed over to %s (%s)", v.Name, a.Node, a.Power))
		}
	}
	if len(moves) == 0 {
		return "no VMs ran there"
	}
	return strings.Join(moves, ", ")
}
