package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simCreateUnmanagedOptions are the flags of `tlreconcile sim create-unmanaged`.
type simCreateUnmanagedOptions struct {
	simOptions
	vm         string
	node       string
	generation int
	running    bool
}

func newSimCreateUnmanagedCmd(root *rootOptions) *cobra.Command {
	o := &simCreateUnmanagedOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "create-unmanaged --vm NAME [--generation 1|2] [--node NODE] [--running]",
		Short: "Create a VM outside tlreconcile (no annotations), as an administrator would",
		Long: `create-unmanaged creates a VM without tlreconcile's annotations. tlreconcile reports
such VMs and never touches them. Generation 2 VMs get trusted launch with Secure Boot, a
key protector and a vTPM; Generation 1 VMs are Standard.`,
		Example: `  tlreconcile sim create-unmanaged --vm legacy-01
  tlreconcile sim create-unmanaged --vm old-01 --generation 1 --node node2 --running`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "name of the new VM")
	cmd.Flags().StringVar(&o.node, "node", "", "node to create it on (default: the first that can host it)")
	cmd.Flags().IntVar(&o.generation, "generation", 2, "Hyper-V generation: 1 or 2")
	cmd.Flags().BoolVar(&o.running, "running", false, "start it after creating it")
	return cmd
}

// Validate checks the name and the generation before any I/O.
func (o *simCreateUnmanagedOptions) Validate() error {
	if o.vm == "" {
		return errors.New("sim create-unmanaged: name the VM: --vm NAME")
	}
	if !slices.Contains([]int{1, 2}, o.generation) {
		return fmt.Errorf("sim create-unmanaged: --generation %d: use 1 or 2", o.generation)
	}
	return nil
}

// Run creates the VM without tlreconcile's annotations.
func (o *simCreateUnmanagedOptions) Run(ctx context.Context) error {
	return o.change(func(d *sim.Driver, cluster string) (view.SimChange, error) {
		err := d.CreateUnmanaged(ctx, cluster, o.vm, sim.UnmanagedVM{Generation: o.generation, Node: o.node, Running: o.running})
		return view.SimChange{Resource: "vm/" + o.vm, Summary: fmt.Sprintf("created outside tlreconcile (Generation %d)", o.generation)}, err
	})
}
