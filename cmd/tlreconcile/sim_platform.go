package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simPlatformOptions are the flags of `tlreconcile sim platform`.
type simPlatformOptions struct {
	azlOptions
	format string
}

func newSimPlatformCmd(root *rootOptions) *cobra.Command {
	o := &simPlatformOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:     "platform [--cluster NAME] [--format text|json]",
		Aliases: []string{"show"},
		Short:   "Show the simulated Azure Local (sim serve): nodes, agents, VMs, keys, faults",
		Long: `platform shows the simulated Azure Local that 'sim serve' serves, as its nodes and its MOC
key vault would: per cluster the nodes with their host agents (IGVmAgent, wssdagent, the MOC
cloud agent) and live-migration transport, and the VMs with their Hyper-V VM ID, node, power,
whether trusted launch is on, whether the guest state protection key is in the vault, the
verdict on the state files' ACL, the vTPM identity (shortened) and how often the platform
reset the vTPM. The Arc resource bridge VM is marked infrastructure; VMs made with local
tools are marked local. The faults injected into ARM follow. Key material never appears.
With --format json it prints a document with format_version 1 for scripts. The first
command on a fresh --state-dir creates the default cluster, as sim serve does.`,
		Example: `  tlreconcile sim platform
  tlreconcile sim platform --cluster sim-cluster --format json`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringVar(&o.format, "format", view.FormatText, "output format: text or json")
	return azlCommand(cmd)
}

// Validate checks --format before anything is opened.
func (o *simPlatformOptions) Validate() error {
	return oneOf("sim platform", "format", o.format, view.FormatText, view.FormatJSON)
}

// Run observes every cluster (with vTPM identities) and renders it.
func (o *simPlatformOptions) Run(ctx context.Context) error {
	h, err := o.openHost()
	if err != nil {
		return err
	}
	defer h.Close()
	states, err := o.observeAll(ctx, h, cluster.ObserveOptions{Identities: true})
	if err != nil {
		return err
	}
	faults, err := arm.OpenAdmin(o.root.stateDir).Faults()
	if err != nil {
		return err
	}
	return view.SimPlatform(o.root.stdout, o.format, view.NewSimPlatformDoc(states, faults))
}
