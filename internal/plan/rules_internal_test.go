package plan

import (
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// The fixtures of the rule tests that run inside the package: a desired
// trusted-launch VM and the observed VM that matches it.

const (
	idA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	idB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func desiredVM(mut ...func(*spec.VM)) *spec.VM {
	d := &spec.VM{
		Name: "a", Cluster: "c1", SecurityType: spec.SecurityTrustedLaunch,
		Processors: 4, MemoryMB: 8192,
		SecureBoot:                      spec.SecureBoot{Enabled: true, Template: spec.TemplateMicrosoftWindows},
		VTPM:                            spec.VTPM{Enabled: true},
		VBS:                             true,
		EncryptStateAndMigrationTraffic: true,
		Power:                           spec.PowerRunning,
	}
	for _, m := range mut {
		m(d)
	}
	return d
}

// observedVM matches d, running on node1 with identity idA recorded there.
func observedVM(d *spec.VM, mut ...func(*drivers.VM)) *drivers.VM {
	o := &drivers.VM{
		Name: d.Name, Node: "node1", Generation: 2, Power: drivers.PowerRunning,
		Processors: d.Processors, MemoryMB: d.MemoryMB, SecurityType: d.SecurityType,
		SecureBoot: d.SecureBoot.Enabled, SecureBootTemplate: d.SecureBoot.Template,
		TPMEnabled: d.VTPM.Enabled, KeyProtector: d.VTPM.Enabled, EncryptState: d.EncryptStateAndMigrationTraffic,
		VBSOptOut: !d.VBS, FileAccess: drivers.FileAccessHostAdminsOnly, VTPMInitialized: true, VTPMIdentity: idA,
		Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: d.Hash(), Protect: d.Protect, VTPMIdentity: idA, Node: "node1"},
	}
	for _, m := range mut {
		m(o)
	}
	return o
}
