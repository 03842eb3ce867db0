package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simShowOptions are the flags of `tlreconcile sim show`.
type simShowOptions struct {
	simOptions
	format string
}

func newSimShowCmd(root *rootOptions) *cobra.Command {
	o := &simShowOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print a sim cluster as the sim driver observes it, with injected faults",
		Long: `show observes a sim cluster exactly as plan and apply do (vTPM identities included)
and prints its nodes, VMs and injected faults. For the findings tlreconcile draws from an
observation, use tlreconcile show -f PATH.`,
		Example: `  tlreconcile sim show
  tlreconcile sim show --cluster hci-west --format json | jq '.observed.vms[].vtpm_identity'`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.format, "format", view.FormatText, "output format: text or json")
	return cmd
}

// Validate checks --format before the cluster is opened.
func (o *simShowOptions) Validate() error {
	return oneOf("sim show", "format", o.format, view.FormatText, view.FormatJSON)
}

// Run observes the cluster through the sim driver, as plan and apply would,
// reads its faults and hands both to the view.
func (o *simShowOptions) Run(ctx context.Context) error {
	d, name, err := o.open()
	if err != nil {
		return err
	}
	ref, err := d.Ref(name)
	if err != nil {
		return err
	}
	obs, err := d.Observe(ctx, ref)
	if err != nil {
		return err
	}
	faults, err := d.Faults(name)
	if err != nil {
		return err
	}
	backend, _ := ref.Options["vtpmBackend"].(string)
	return view.SimShow(o.root.stdout, o.format, view.SimCluster{Backend: backend, Observed: obs, Faults: faults, Ref: ref})
}
