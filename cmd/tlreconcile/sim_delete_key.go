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

// simDeleteKeyOptions are the flags of `tlreconcile sim delete-key`.
type simDeleteKeyOptions struct {
	azlOptions
	vm string
}

func newSimDeleteKeyCmd(root *rootOptions) *cobra.Command {
	o := &simDeleteKeyOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "delete-key --vm NAME [--cluster NAME]",
		Short: "Delete a VM's guest state protection key from the key vault (sim serve)",
		Long: `delete-key deletes a trusted-launch VM's guest state protection key from the MOC key vault
` + cluster.KeyVaultName + ` (group ` + cluster.KeyGroup + `), as a mistaken Remove-MocKey or
a lost vault would. A running VM keeps running; "it is not possible to boot up a Trusted
launch VM without the guest state protection key", so its next start, restart or failover
creates a new key, which resets its vTPM (a new vTPM identity). The VM is named by name or
by VM ID; the Arc resource bridge VM is refused.`,
		Example: `  tlreconcile sim delete-key --vm avd-01`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM whose key to delete (name or VM ID)")
	return azlCommand(cmd)
}

// Validate checks that the VM is named before anything is opened.
func (o *simDeleteKeyOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" {
		return errors.New("sim delete-key: name the VM whose key to delete: --vm NAME")
	}
	return nil
}

// Run deletes the key.
func (o *simDeleteKeyOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		v, err := o.findVM(ctx, h, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		if !v.KeyPresent {
			return view.SimChange{}, fmt.Errorf("vm/%s: the key vault holds no guest state protection key for it (VM ID %s): nothing to delete", v.Name, v.VMID)
		}
		if err := h.DeleteKey(ctx, v.VMID); err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "vm/" + v.Name, Summary: fmt.Sprintf(
			"guest state protection key deleted from %s/%s; the VM stays %s, its next boot creates a new key and resets the vTPM",
			cluster.KeyVaultName, cluster.KeyGroup, v.Power)}, nil
	})
}
