package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simTamperBootOptions are the flags of `tlreconcile sim tamper-boot`.
type simTamperBootOptions struct {
	azlOptions
	vm, component string
}

func newSimTamperBootCmd(root *rootOptions) *cobra.Command {
	o := &simTamperBootOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "tamper-boot --vm NAME --component PATH [--cluster NAME]",
		Short: "Tamper with a guest's boot: one more boot component measured (sim serve)",
		Long: `tamper-boot plants an extra boot component in a trusted-launch VM's boot, as malware
written to its EFI system partition would: from the VM's next boot on, its firmware measures
one more boot application (an EV_EFI_BOOT_SERVICES_APPLICATION event for PATH) into PCR 4
and appends it to the TCG event log the guest reads. The running boot is not changed:
restart the VM (through ARM, or apply) to measure it. The platform reports nothing of this
(guest boot integrity verification is not available on Azure Local); tlreconcile's own
attestation finds it as boot-integrity-violation. The VM is named by name or by VM ID; it
needs a vTPM, and the Arc resource bridge VM is refused. Repeat the command to plant more
components; they are measured in the order planted.`,
		Example: `  tlreconcile sim tamper-boot --vm avd-01 --component '\EFI\Microsoft\Boot\bootkit.efi'`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM whose boot to tamper with (name or VM ID)")
	cmd.Flags().StringVar(&o.component, "component", "", `path of the extra boot application, e.g. \EFI\Boot\extra.efi`)
	return azlCommand(cmd)
}

// Validate checks the VM and the component before anything is opened.
func (o *simTamperBootOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" || o.component == "" {
		return errors.New(`sim tamper-boot: name the VM and the boot component to plant: --vm NAME --component PATH (e.g. \EFI\Boot\extra.efi)`)
	}
	if err := guestboot.CheckComponent(o.component); err != nil {
		return fmt.Errorf("sim tamper-boot: --component: %w", err)
	}
	return nil
}

// Run plants the component.
func (o *simTamperBootOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		v, err := o.findVM(ctx, h, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		if err := h.TamperBoot(ctx, v.VMID, o.component); err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "vm/" + v.Name, Summary: fmt.Sprintf(
			"boot component %s planted; the VM stays %s, its next boot measures it into PCR 4", o.component, v.Power)}, nil
	})
}
