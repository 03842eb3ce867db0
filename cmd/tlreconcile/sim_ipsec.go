package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simIPsecOptions are the flags of `tlreconcile sim ipsec`.
type simIPsecOptions struct {
	simOptions
	node  string
	state string
}

func newSimIPsecCmd(root *rootOptions) *cobra.Command {
	o := &simIPsecOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:     "ipsec --node NODE --state on|off",
		Short:   "Turn a node's live-migration IPsec rules on or off",
		Example: `  tlreconcile sim ipsec --node node1 --state off`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.node, "node", "", "node to change")
	cmd.Flags().StringVar(&o.state, "state", "", "on or off")
	return cmd
}

// Validate checks the node and the state before any I/O.
func (o *simIPsecOptions) Validate() error {
	if o.node == "" || o.state != "on" && o.state != "off" {
		return errors.New("sim ipsec: name the node and the state: --node NODE --state on|off")
	}
	return nil
}

// Run turns the node's live-migration IPsec rules on or off.
func (o *simIPsecOptions) Run(context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (view.SimChange, error) {
		err := d.SetIPsec(cluster, o.node, o.state == "on")
		return view.SimChange{Resource: "node/" + o.node, Summary: "live-migration IPsec " + o.state}, err
	})
}
