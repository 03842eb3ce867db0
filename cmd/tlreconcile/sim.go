package main

import (
	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simOptions are the flags every `tlreconcile sim` subcommand shares. Each
// subcommand lives in its own sim_*.go file with its options, Validate and Run.
type simOptions struct {
	root    *rootOptions
	cluster string
}

func (o *simOptions) addClusterFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "sim cluster to act on (may be omitted when exactly one exists)")
}

// open returns the sim driver and the cluster name to act on, so that every
// control resolves an omitted --cluster the same way.
func (o *simOptions) open() (*sim.Driver, string, error) {
	d, err := sim.New(o.root.driverConfig())
	if err != nil {
		return nil, "", err
	}
	name, err := d.ResolveCluster(o.cluster)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// change opens the cluster, lets act change it and prints what act says it
// changed; nothing is printed when act fails, so a script never reads a
// success line for a change that did not happen.
func (o *simOptions) change(act func(d *sim.Driver, cluster string) (view.SimChange, error)) error {
	d, name, err := o.open()
	if err != nil {
		return err
	}
	c, err := act(d, name)
	if err != nil {
		return err
	}
	return view.SimChanged(o.root.stdout, c)
}

func newSimCmd(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Create and disturb simulated Azure Local clusters (the sim driver)",
		Long: `The sim driver keeps simulated Azure Local clusters under <state-dir>/sim/<cluster>/:
nodes with IgvmAgent and live-migration IPsec, Hyper-V VMs with Hyper-V's rules, and a real
TPM 2.0 behind every vTPM. These commands create a cluster and do to it what no plan would:
drift a VM's settings, fail it over (with or without its vTPM state), stop a node's IgvmAgent,
inject op failures and latency, or create a VM behind tlreconcile's back. They are for tests,
demos and rehearsing incidents; every change is written to disk, so the next plan, apply or
watch sees it.

The incidents of the simulated Azure Local that 'sim serve' serves (internal/sim: ARM over
HTTPS, nodes and agents, the MOC key vault, sealed vTPMs) are beside them, under their own
heading: sim platform shows it; fail-node, recover-node, move-vm, stop-agent, start-agent,
delete-key, local-vm, arm-fault and portal-delete change it, also while sim serve runs.
'driver: sim' does not use that platform yet.`,
		Example: `  tlreconcile sim init --cluster hci-west --nodes node1,node2,node3
  tlreconcile sim create-unmanaged --vm legacy-01 --running
  tlreconcile sim failover --vm avd-01 --to node2 --lose-vtpm
  tlreconcile sim show

  # the simulated Azure Local of sim serve
  tlreconcile sim fail-node --node node1
  tlreconcile sim platform`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		newSimInitCmd(root), newSimShowCmd(root), newSimDriftCmd(root), newSimFailoverCmd(root),
		newSimAgentCmd(root), newSimIPsecCmd(root), newSimInjectCmd(root), newSimCreateUnmanagedCmd(root),
	)
	for _, c := range cmd.Commands() {
		c.GroupID = simGroupDriver
	}
	cmd.AddGroup(&cobra.Group{ID: simGroupPlatform, Title: "Simulated Azure Local (sim serve):"},
		&cobra.Group{ID: simGroupDriver, Title: "sim driver (driver: sim):"})
	cmd.AddCommand(azlCommand(newSimServeCmd(root)), newSimPlatformCmd(root), newSimFailNodeCmd(root), newSimRecoverNodeCmd(root),
		newSimMoveVMCmd(root), newSimStopAgentCmd(root), newSimStartAgentCmd(root), newSimDeleteKeyCmd(root),
		newSimLocalVMCmd(root), newSimARMFaultCmd(root), newSimPortalDeleteCmd(root))
	cmd.AddCommand(newSimTamperBootCmd(root))
	return cmd
}
