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

// simMoveVMOptions are the flags of `tlreconcile sim move-vm`.
type simMoveVMOptions struct {
	azlOptions
	vm, toNode, toCluster string
	withoutKey            bool
}

func newSimMoveVMCmd(root *rootOptions) *cobra.Command {
	o := &simMoveVMOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "move-vm --vm NAME --to-node NODE [--to-cluster NAME] [--without-key]",
		Short: "Move a VM: fail over or restore, with or without its key (sim serve)",
		Long: `move-vm moves a VM of the simulated Azure Local behind tlreconcile's back.

Inside its cluster (no --to-cluster) with its key, it is a live migration: the VM keeps
running with its vTPM. With --without-key it is a failover in which the guest state
protection key was lost: the key is gone from the vault and a running VM boots on the
target with a new key, which resets its vTPM (a new vTPM identity).

With --to-cluster it is a restore onto another simulated system: the VM's state files are
copied there and, with its key, the key is imported into that cluster's vault; without it
(--without-key) the VM boots there with a new key and a reset vTPM. A VM that was running
runs there again.

The target node must be Up with IGVmAgent and wssdagent running. The VM is named by name
or by VM ID; the Arc resource bridge VM cannot be moved.`,
		Example: `  # live migration inside the cluster, the vTPM kept
  tlreconcile sim move-vm --vm avd-01 --to-node node2

  # a failover that lost the guest state protection key: the vTPM resets
  tlreconcile sim move-vm --vm avd-01 --to-node node1 --without-key

  # restore onto another simulated system without the key
  tlreconcile sim move-vm --vm avd-01 --to-cluster hci-east --to-node n1 --without-key`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM to move (name or VM ID)")
	cmd.Flags().StringVar(&o.toNode, "to-node", "", "node it lands on")
	cmd.Flags().StringVar(&o.toCluster, "to-cluster", "", "cluster to restore it onto (default: its own)")
	cmd.Flags().BoolVar(&o.withoutKey, "without-key", false, "the guest state protection key does not come along (the vTPM resets)")
	return azlCommand(cmd)
}

// Validate checks that the VM and its target are named before anything is opened.
func (o *simMoveVMOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" || strings.TrimSpace(o.toNode) == "" {
		return errors.New("sim move-vm: name the VM and the node it lands on: --vm NAME --to-node NODE")
	}
	return nil
}

// Run moves the VM and says how it landed.
func (o *simMoveVMOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		v, err := o.findVM(ctx, h, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		to := cluster.Target{Node: o.toNode}
		if o.toCluster != "" {
			names, err := h.Clusters()
			if err != nil {
				return view.SimChange{}, err
			}
			if to.Cluster, err = pickCluster(o.toCluster, names); err != nil {
				return view.SimChange{}, err
			}
		}
		inside := to.Cluster == "" || to.Cluster == v.Cluster
		if inside && strings.EqualFold(v.Node, o.toNode) {
			return view.SimChange{}, fmt.Errorf("vm/%s is on %s already: name another node with --to-node", v.Name, v.Node)
		}
		if err := h.MoveVM(ctx, v.VMID, to, !o.withoutKey); err != nil {
			return view.SimChange{}, err
		}
		after, err := h.VM(ctx, v.VMID)
		if err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "vm/" + v.Name, Summary: moveSummary(v, after, inside)}, nil
	})
}

// moveSummary says what the move was and what became of the vTPM.
func moveSummary(before, after cluster.VMState, inside bool) string {
	what := fmt.Sprintf("restored from cluster %s onto cluster %s node %s", before.Cluster, after.Cluster, after.Node)
	if inside {
		what = fmt.Sprintf("moved %s -> %s", before.Node, after.Node)
	}
	switch {
	case before.GuestStateIsolationType != "TrustedLaunch":
		return what + " (no vTPM)"
	case after.Resets > before.Resets:
		return what + " without its guest state key: new key, vTPM reset (" + string(after.Power) + ")"
	case !after.KeyPresent:
		return what + " without its guest state key: the next start creates a new key and resets the vTPM"
	}
	return what + " with its guest state key: vTPM kept (" + string(after.Power) + ")"
}
