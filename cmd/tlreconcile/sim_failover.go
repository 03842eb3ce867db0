package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"
)

// simFailoverOptions are the flags of `tlreconcile sim failover`: a move-vm
// inside the VM's cluster, spelt as the incident it rehearses.
type simFailoverOptions struct {
	move     simMoveVMOptions
	to       string
	loseVTPM bool
}

func newSimFailoverCmd(root *rootOptions) *cobra.Command {
	o := &simFailoverOptions{move: simMoveVMOptions{azlOptions: azlOptions{root: root}}}
	cmd := &cobra.Command{
		Use:   "failover --vm NAME --to NODE [--lose-vtpm]",
		Short: "Fail a VM over to another node of its cluster, keeping or losing its vTPM",
		Long: `failover moves a VM of the simulated Azure Local to another node of its cluster, as the
cluster does when a node fails or drains: tlreconcile did not ask for it. With its guest-state
protection key the vTPM comes along (vTPM state transfer): the next plan verifies the vTPM
identity from inside the guest and moves the VM back to its placement. --lose-vtpm is the
failure the admin fears: the key is lost on the way, the VM boots on the target with a new key
and a reset vTPM (a new vTPM identity, which the next plan reports as vtpm-state-lost; BitLocker
would ask for its recovery key). It is 'sim move-vm --to-node NODE [--without-key]'.`,
		Example: `  tlreconcile sim failover --vm web-02 --to node3
  tlreconcile sim failover --cluster hci-west --vm web-02 --to node1 --lose-vtpm`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.move.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.move.vm, "vm", "", "VM to fail over (name or VM ID)")
	cmd.Flags().StringVar(&o.to, "to", "", "node it lands on")
	cmd.Flags().BoolVar(&o.loseVTPM, "lose-vtpm", false, "the guest-state key is lost on the way (the vTPM resets: a new vTPM identity)")
	return azlCommand(cmd)
}

// Validate checks that the VM and its target are named before any I/O.
func (o *simFailoverOptions) Validate() error {
	if strings.TrimSpace(o.move.vm) == "" || strings.TrimSpace(o.to) == "" {
		return errors.New("sim failover: name the VM and the node it lands on: --vm NAME --to NODE")
	}
	o.move.toNode, o.move.withoutKey = o.to, o.loseVTPM
	return o.move.Validate()
}

// Run moves the VM inside its cluster and says how it landed.
func (o *simFailoverOptions) Run(ctx context.Context) error { return o.move.Run(ctx) }
