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

// simRecoverNodeOptions are the flags of `tlreconcile sim recover-node`.
type simRecoverNodeOptions struct {
	azlOptions
	node string
}

func newSimRecoverNodeCmd(root *rootOptions) *cobra.Command {
	o := &simRecoverNodeOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "recover-node --node NODE [--cluster NAME]",
		Short: "Bring a failed node back up (sim serve)",
		Long: `recover-node brings a node that 'sim fail-node' took down back Up. The VMs that failed
over stay where they went, as on the platform: moving them back is a live migration
(a plan's move-vm, or 'sim move-vm').`,
		Example: `  tlreconcile sim recover-node --node node1`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node to bring back up")
	return azlCommand(cmd)
}

// Validate checks that the node is named before anything is opened.
func (o *simRecoverNodeOptions) Validate() error {
	if strings.TrimSpace(o.node) == "" {
		return errors.New("sim recover-node: name the node to bring back: --node NODE")
	}
	return nil
}

// Run brings the node Up.
func (o *simRecoverNodeOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		name, err := o.clusterName(h)
		if err != nil {
			return view.SimChange{}, err
		}
		st, err := h.Observe(ctx, name, cluster.ObserveOptions{})
		if err != nil {
			return view.SimChange{}, err
		}
		n, err := nodeState(st, o.node)
		if err != nil {
			return view.SimChange{}, err
		}
		if n.Status == cluster.NodeUp {
			return view.SimChange{}, fmt.Errorf("node/%s is up already: nothing to recover", n.Name)
		}
		if err := h.RecoverNode(ctx, name, n.Name); err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "node/" + n.Name, Summary: "recovered (Up); its VMs stay where they failed over to"}, nil
	})
}
