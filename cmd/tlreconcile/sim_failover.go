package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simFailoverOptions are the flags of `tlreconcile sim failover`.
type simFailoverOptions struct {
	simOptions
	vm, to   string
	loseVTPM bool
}

func newSimFailoverCmd(root *rootOptions) *cobra.Command {
	o := &simFailoverOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "failover --vm NAME --to NODE [--lose-vtpm]",
		Short: "Fail a VM over to another node, keeping or losing its vTPM state",
		Long: `failover moves a VM as a node failure would: no live migration and no agent check on
the way. A running VM restarts on the target when that node can unlock its guest state,
otherwise it stays Off. With vTPM state transfer working the vTPM identity survives;
--lose-vtpm simulates it failing, so the VM comes back with a new vTPM identity.`,
		Example: `  tlreconcile sim failover --vm avd-01 --to node2
  tlreconcile sim failover --cluster hci-west --vm avd-01 --to node3 --lose-vtpm`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM to fail over")
	cmd.Flags().StringVar(&o.to, "to", "", "node it lands on")
	cmd.Flags().BoolVar(&o.loseVTPM, "lose-vtpm", false, "lose the vTPM state in the failover (new vTPM identity)")
	return cmd
}

// Validate checks that the VM and its target are named before any I/O.
func (o *simFailoverOptions) Validate() error {
	if o.vm == "" || o.to == "" {
		return errors.New("sim failover: name the VM and the target node: --vm NAME --to NODE")
	}
	return nil
}

// Run fails the VM over and prints how it landed, as the driver reports it.
func (o *simFailoverOptions) Run(ctx context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (view.SimChange, error) {
		msg, err := d.Failover(ctx, cluster, o.vm, o.to, o.loseVTPM)
		return view.SimChange{Resource: "vm/" + o.vm, Summary: msg}, err
	})
}
