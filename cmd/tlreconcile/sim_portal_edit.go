package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simPortalEditOptions are the flags of `tlreconcile sim portal-edit`.
type simPortalEditOptions struct {
	azlOptions
	vm         string
	sets       []string
	processors int   // parsed in Validate
	memoryMB   int64 // parsed in Validate
}

func newSimPortalEditCmd(root *rootOptions) *cobra.Command {
	o := &simPortalEditOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "portal-edit --vm NAME --set FIELD=VALUE...",
		Short: "Change a VM's size out of band, as an edit in the Azure portal would",
		Long: `portal-edit changes the processors or memory of a VM of the simulated Azure Local as
someone editing its size in the Azure portal (or with az stack-hci-vm update) would, behind
the back of any tlreconcile run: the VM on the cluster, then its Azure Local VM instance's
hardwareProfile in ARM, so both say the same and the next plan shows the drift. These are
the settings the driver reads from ARM; 'sim drift' changes what only the node shows.
Fields:
  processors=N    the virtual processor count (the platform refuses it while the VM runs)
  memoryMB=N      the memory in MB
It is safe while 'sim serve' runs: it takes the resource group's lock as every ARM write does.`,
		Example: `  tlreconcile sim portal-edit --vm web-01 --set memoryMB=16384
  tlreconcile sim drift --vm web-01 --set power=Off
  tlreconcile sim portal-edit --vm web-01 --set processors=8 --set memoryMB=8192`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.vm, "vm", "", "Arc machine name or ARM ID, or the VM's VM ID")
	cmd.Flags().StringArrayVar(&o.sets, "set", nil, "FIELD=VALUE, repeatable: processors, memoryMB")
	return azlCommand(cmd)
}

// Validate parses every --set before anything is opened.
func (o *simPortalEditOptions) Validate() error {
	if strings.TrimSpace(o.vm) == "" || len(o.sets) == 0 {
		return errors.New("sim portal-edit: name the VM and what to change: --vm NAME --set processors=N|memoryMB=N")
	}
	o.processors, o.memoryMB = 0, 0
	for _, s := range o.sets {
		field, value, _ := strings.Cut(s, "=")
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n <= 0 || n > 1<<30 {
			return fmt.Errorf("sim portal-edit: --set %q: want FIELD=N with a positive whole number", s)
		}
		switch field {
		case "processors":
			if n > 1024 {
				return fmt.Errorf("sim portal-edit: --set %q: at most 1024 processors", s)
			}
			o.processors = int(n)
		case "memoryMB":
			o.memoryMB = n
		default:
			return fmt.Errorf("sim portal-edit: --set %q: unknown field %q: the fields are processors and memoryMB (for Secure Boot, power or file access use 'sim drift')", s, field)
		}
	}
	return nil
}

// Run finds the machine and edits its size.
func (o *simPortalEditOptions) Run(ctx context.Context) error {
	return o.change(ctx, func(ctx context.Context, h *cluster.Host) (view.SimChange, error) {
		admin := arm.OpenAdmin(o.root.stateDir)
		machines, err := admin.Machines()
		if err != nil {
			return view.SimChange{}, err
		}
		m, err := pickMachine(machines, o.vm)
		if err != nil {
			return view.SimChange{}, err
		}
		got, err := admin.PortalSetHardware(ctx, h, m.ID, o.processors, o.memoryMB)
		if err != nil {
			return view.SimChange{}, fmt.Errorf("vm/%s: %w", m.Name, err)
		}
		return view.SimChange{Resource: "vm/" + m.Name, Summary: fmt.Sprintf("edited in the portal: processors %d -> %d, memoryMB %d -> %d",
			got.Before.Processors, got.After.Processors, got.Before.MemoryMB, got.After.MemoryMB)}, nil
	})
}
