package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simLocalVMOptions are the flags of `tlreconcile sim local-vm`.
type simLocalVMOptions struct {
	azlOptions
	vm, node string
}

// maxVMName is Hyper-V's limit on a VM name.
const maxVMName = 100

func newSimLocalVMCmd(root *rootOptions) *cobra.Command {
	o := &simLocalVMOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "local-vm --vm NAME --node NODE [--cluster NAME]",
		Short: "Create a VM with local tools on a node (sim serve)",
		Long: `local-vm creates a VM on a node with local tools (New-VM in Hyper-V Manager or PowerShell),
behind Azure's back. Such a VM is unmanaged: ARM does not know it, it has no trusted launch
("Trusted launch is available only for Azure Arc managed VMs"), no guest state protection
key and no vTPM, and it cannot be converted. tlreconcile must report it and never touch it.
A name another VM already has is allowed, as in Hyper-V; the other commands then ask for
the VM ID.`,
		Example: `  tlreconcile sim local-vm --vm legacy-01 --node node1`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "name of the new VM")
	cmd.Flags().StringVar(&o.node, "node", "", "node to create it on")
	return azlCommand(cmd)
}

// Validate checks the name and node before anything is opened.
func (o *simLocalVMOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" || strings.TrimSpace(o.node) == "" {
		return errors.New("sim local-vm: name the VM and its node: --vm NAME --node NODE")
	}
	if len(o.vm) > maxVMName || strings.TrimSpace(o.vm) != o.vm || strings.ContainsFunc(o.vm, unicode.IsControl) {
		return fmt.Errorf("sim local-vm: --vm %q: a VM name has 1 to %d characters, no control characters and no leading or trailing spaces", o.vm, maxVMName)
	}
	return nil
}

// Run creates the VM.
func (o *simLocalVMOptions) Run(ctx context.Context) error {
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
		id, err := h.CreateLocalVM(ctx, name, n.Name, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "vm/" + o.vm, Summary: fmt.Sprintf(
			"created with local tools on %s (VM ID %s; unmanaged, no trusted launch, Running)", n.Name, id)}, nil
	})
}
