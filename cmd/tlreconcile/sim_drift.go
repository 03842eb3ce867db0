package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simDriftOptions are the flags of `tlreconcile sim drift`.
type simDriftOptions struct {
	simOptions
	vm   string
	sets []string
}

func newSimDriftCmd(root *rootOptions) *cobra.Command {
	o := &simDriftOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "drift --vm NAME --set FIELD=VALUE...",
		Short: "Change a VM's observed settings behind tlreconcile's back",
		Long: `drift changes observed fields of a VM the way an administrator or a failure would,
without Hyper-V's rules: the next plan shows the drift. All --set values apply together
or not at all. Fields: ` + strings.Join(sim.DriftFields, ", ") + `.
The vTPM identity cannot be set; lose it with sim failover --lose-vtpm.`,
		Example: `  tlreconcile sim drift --cluster hci-west --vm avd-01 --set secureBoot=false
  tlreconcile sim drift --vm avd-01 --set processors=2 --set fileAccess=violation`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.vm, "vm", "", "VM to change")
	cmd.Flags().StringArrayVar(&o.sets, "set", nil, "FIELD=VALUE, repeatable")
	return cmd
}

// Validate parses every --set before the cluster is opened, so a typo in the
// third one does not leave the first two applied.
func (o *simDriftOptions) Validate() error {
	if o.vm == "" || len(o.sets) == 0 {
		return errors.New("sim drift: name the VM and what to change: --vm NAME --set FIELD=VALUE")
	}
	for _, s := range o.sets {
		if _, err := sim.ParseSetting(s); err != nil {
			return fmt.Errorf("sim drift: --set: %w", err)
		}
	}
	return nil
}

// Run applies every setting to the VM in one change.
func (o *simDriftOptions) Run(ctx context.Context) error {
	var settings []sim.Setting
	for _, s := range o.sets {
		st, _ := sim.ParseSetting(s) // checked in Validate
		settings = append(settings, st)
	}
	return o.change(func(d *sim.Driver, cluster string) (view.SimChange, error) {
		err := d.Drift(ctx, cluster, o.vm, settings)
		return view.SimChange{Resource: "vm/" + o.vm, Summary: "drifted " + strings.Join(o.sets, ", ")}, err
	})
}
