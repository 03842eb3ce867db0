package plan_test

import (
	"fmt"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// A running VM whose Secure Boot is off and whose processor count the YAML
// changed gets one stop/start window around both changes.
func ExampleBuild() {
	vm := spec.VM{
		Name: "avd-01", Cluster: "hci-west", SecurityType: spec.SecurityTrustedLaunch,
		Processors: 4, MemoryMB: 8192, Power: spec.PowerRunning,
		SecureBoot: spec.SecureBoot{Enabled: true, Template: spec.TemplateMicrosoftWindows},
		VTPM:       spec.VTPM{Enabled: true}, VBS: true, EncryptStateAndMigrationTraffic: true,
	}
	desired := &spec.Desired{
		Clusters: []spec.Cluster{{Name: "hci-west", Driver: "sim", Nodes: []string{"node1"},
			IgvmAgent: "required", VMFileAccess: "hostAdminsOnly", LiveMigration: spec.LiveMigration{Encryption: "ipsec"}}},
		VMs: []spec.VM{vm},
	}
	observed := map[string]*drivers.Observed{"hci-west": {
		Cluster: "hci-west", Driver: "sim", ObservedAt: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
		Nodes: []drivers.Node{{Name: "node1", State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning, MigrationIPsec: true}},
		VMs: []drivers.VM{{
			Name: "avd-01", Node: "node1", Generation: 2, Power: drivers.PowerRunning, Processors: 2, MemoryMB: 8192,
			SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: false, SecureBootTemplate: spec.TemplateMicrosoftWindows,
			TPMEnabled: true, KeyProtector: true, EncryptState: true, VTPMInitialized: true, VTPMIdentity: "ab12",
			FileAccess:  drivers.FileAccessHostAdminsOnly,
			Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "older", VTPMIdentity: "ab12", Node: "node1"},
		}},
	}}
	p, err := plan.Build(desired, observed, plan.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range p.Changes {
		fmt.Println(c.Action, c.Resource)
		for _, r := range c.Reasons {
			fmt.Println("  #", r)
		}
		for _, s := range c.Steps {
			fmt.Printf("  %s (off: %t, disruptive: %t)\n", s.ID, s.RequiresPowerOff, s.Disruptive)
		}
	}
	// Output:
	// update vm/avd-01
	//   # secureBoot is Off, want On
	//   # processors is 2, want 4
	//   vm/avd-01/stop-vm (off: false, disruptive: true)
	//   vm/avd-01/set-secure-boot (off: true, disruptive: false)
	//   vm/avd-01/set-processor (off: true, disruptive: false)
	//   vm/avd-01/start-vm (off: false, disruptive: true)
	//   vm/avd-01/set-annotations (off: false, disruptive: false)
}
