package main

import (
	"github.com/spf13/cobra"
)

func newSimCmd(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Create, serve and disturb the simulated Azure Local (driver: sim)",
		Long: `driver: sim is the azurelocal driver against the simulated Azure Local that this binary
embeds: the same code a real cluster runs, over real HTTPS on loopback to the simulated Azure
Resource Manager (with its token endpoint and its own CA) and the PowerShell node protocol to
the simulated nodes. The platform keeps its state under <state-dir>/cluster and <state-dir>/arm:
per cluster the nodes with IGVmAgent, wssdagent and the MOC cloud agent, the MOC key vault
with one guest-state protection key per trusted-launch VM, the Arc resource bridge VM, and a
real TPM 2.0 behind every vTPM, sealed by that VM's key. A Cluster document with driver: sim
creates its cluster on first use.

These commands do to it what no plan would: drift a VM behind ARM's back, fail a VM over (with
or without its key), fail a node, stop an agent, delete a key, create a VM with local tools,
make ARM throttle or fail, delete a VM in the portal, tamper with a guest's boot. They are for
tests, demos and rehearsing incidents; every change is written to disk, so the next plan,
apply or watch sees it, also while 'sim serve' runs.`,
		Example: `  tlreconcile sim init --cluster hci-west --nodes node1,node2,node3
  tlreconcile sim drift --vm web-01 --set secureBoot=false
  tlreconcile sim failover --vm web-02 --to node3
  tlreconcile sim failover --vm web-02 --to node1 --lose-vtpm
  tlreconcile sim platform

  # serve it to other tools (az, the Azure SDKs) on loopback
  tlreconcile sim serve`,
		Args: cobra.NoArgs,
	}
	cmd.AddGroup(&cobra.Group{ID: simGroupPlatform, Title: "Simulated Azure Local (driver: sim, sim serve):"})
	cmd.AddCommand(newSimInitCmd(root), newSimServeCmd(root), newSimPlatformCmd(root), newSimDriftCmd(root),
		newSimFailoverCmd(root), newSimFailNodeCmd(root), newSimRecoverNodeCmd(root), newSimMoveVMCmd(root),
		newSimStopAgentCmd(root), newSimStartAgentCmd(root), newSimDeleteKeyCmd(root), newSimLocalVMCmd(root),
		newSimARMFaultCmd(root), newSimPortalDeleteCmd(root), newSimPortalEditCmd(root), newSimTamperBootCmd(root), newSimGuestAgentCmd(root))
	for _, c := range cmd.Commands() {
		azlCommand(c)
	}
	return cmd
}
