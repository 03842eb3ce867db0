package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simPortalDeleteOptions are the flags of `tlreconcile sim portal-delete`.
type simPortalDeleteOptions struct {
	azlOptions
	vm string
}

func newSimPortalDeleteCmd(root *rootOptions) *cobra.Command {
	o := &simPortalDeleteOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "portal-delete --vm NAME",
		Short: "Delete a VM out of band, as the Azure portal would (sim serve)",
		Long: `portal-delete deletes a VM of the simulated Azure Local as someone clicking Delete in the
Azure portal would, behind the back of any tlreconcile run: the VM on the cluster (with its
state files and guest state protection key), then its Azure Local VM instance, its run
commands and its Arc machine. Network interfaces and disks stay, as the portal leaves them.

It is safe while 'sim serve' runs and an apply talks to it: it takes the resource group's
lock as every ARM write does, so a request sees the VM before or after, never half; the
next GET of the machine or VM instance answers 404, and an operation still running on them
ends Failed with code ResourceDeleted.

--vm is the Arc machine's name (or the VM's Hyper-V VM ID); when several resource groups
hold a machine of that name, name the one you mean by its full ARM ID. VMs made with local
tools have no ARM resources, and the Arc resource bridge VM is infrastructure: both are refused.`,
		Example: `  tlreconcile sim portal-delete --vm avd-01
  tlreconcile sim portal-delete --vm /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/avd-01`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.vm, "vm", "", "Arc machine name or ARM ID, or the VM's VM ID")
	return azlCommand(cmd)
}

// Validate checks that the VM is named before anything is opened.
func (o *simPortalDeleteOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" {
		return errors.New("sim portal-delete: name the VM to delete: --vm NAME (its Arc machine's name)")
	}
	return nil
}

// Run finds the machine and deletes it.
func (o *simPortalDeleteOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		local, err := o.refuseClusterOnly(ctx, h)
		if err != nil {
			return view.SimChange{}, err
		}
		admin := arm.OpenAdmin(o.root.stateDir)
		machines, err := admin.Machines()
		if err != nil {
			return view.SimChange{}, err
		}
		m, err := pickMachine(machines, o.vm)
		if errors.Is(err, arm.ErrNoMachine) && local != "" {
			return view.SimChange{}, fmt.Errorf("vm/%s: %w; it has no ARM resources the portal could delete", local, cluster.ErrUnmanaged)
		}
		if err != nil {
			return view.SimChange{}, err
		}
		got, err := admin.PortalDelete(ctx, h, m.ID)
		if err != nil {
			return view.SimChange{}, err
		}
		return view.SimChange{Resource: "vm/" + m.Name, Summary: portalSummary(got)}, nil
	})
}

// refuseClusterOnly refuses the resource bridge, which has no Arc machine,
// by name or VM ID, and returns the name of a VM made with local tools that
// --vm names (it has no ARM resources either, unless an Arc machine shares
// its name).
func (o *simPortalDeleteOptions) refuseClusterOnly(ctx context.Context, h *cluster.Host) (local string, err error) {
	states, err := o.observeAll(ctx, h, cluster.ObserveOptions{})
	if err != nil {
		return "", err
	}
	managed := false
	for _, st := range states {
		for _, v := range st.VMs {
			if !strings.EqualFold(v.Name, o.vm) && !strings.EqualFold(v.VMID, o.vm) {
				continue
			}
			if v.Infrastructure {
				return "", fmt.Errorf("vm/%s: %w; the portal cannot delete it either", v.Name, cluster.ErrInfrastructure)
			}
			if !v.Managed {
				local = v.Name
			} else {
				managed = true
			}
		}
	}
	if managed {
		return "", nil
	}
	return local, nil
}

// pickMachine finds the Arc machine by ARM ID, name or VM ID.
func pickMachine(machines []arm.Machine, want string) (arm.Machine, error) {
	var found []arm.Machine
	for _, m := range machines {
		if strings.EqualFold(m.ID, want) || strings.EqualFold(m.Name, want) || (m.VMID != "" && strings.EqualFold(m.VMID, want)) {
			found = append(found, m)
		}
	}
	ids := func(ms []arm.Machine) string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m.ID
		}
		return strings.Join(out, ", ")
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return arm.Machine{}, fmt.Errorf("vm %q is ambiguous: Arc machines %s; name one by its ARM ID", want, ids(found))
	case len(machines) == 0:
		return arm.Machine{}, fmt.Errorf("vm %q: %w: it has no Arc machines yet", want, arm.ErrNoMachine)
	}
	return arm.Machine{}, fmt.Errorf("vm %q: %w (by name, ARM ID or VM ID); there are: %s", want, arm.ErrNoMachine, ids(machines))
}

func portalSummary(d arm.PortalDeleted) string {
	what := []string{"Arc machine " + d.MachineID}
	if d.Instance {
		what[0] += " with its VM instance"
	}
	if d.VMID != "" {
		what = append([]string{"the VM on the cluster (VM ID " + d.VMID + ", with its state and key)"}, what...)
	}
	if d.RunCommands > 0 {
		what = append(what, fmt.Sprintf("%d run command(s)", d.RunCommands))
	}
	s := "deleted in the portal: " + strings.Join(what, ", ")
	if d.Canceled > 0 {
		s += fmt.Sprintf("; %d running operation(s) on it now Failed (ResourceDeleted)", d.Canceled)
	}
	return s
}
