package azurelocal

import (
	"errors"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// observedVM is an Azure Local VM: ARM's view (hardware, security profile,
// power, tags), corrected by what its owner node's Get-VM shows (the
// isolation type tlreconcile verifies, Secure Boot switched off locally,
// the power state now, file access). nv.vm is nil when no node reported the
// VM (its node is down): then ARM's view is all there is.
func (c *conn) observedVM(a armVM, nv nodeVM) drivers.VM {
	p := a.v.Properties
	vm := drivers.VM{Name: a.m.Name, ID: p.VMID, Generation: 2, SecurityType: drivers.SecurityStandard, Power: drivers.PowerOther,
		FileAccess: drivers.FileAccessUnknown, Infrastructure: c.infra[a.m.Name]}
	if hw := p.HardwareProfile; hw != nil {
		vm.Processors, vm.MemoryMB = hw.Processors, hw.MemoryMB
	}
	if sp := p.SecurityProfile; sp != nil {
		if sp.SecurityType == securityTypeTL {
			vm.SecurityType = drivers.SecurityTrustedLaunch
		}
		vm.TPMEnabled = sp.EnableTPM != nil && *sp.EnableTPM
		vm.SecureBoot = sp.UefiSettings != nil && sp.UefiSettings.SecureBootEnabled != nil && *sp.UefiSettings.SecureBootEnabled
	}
	if p.Status != nil {
		vm.Power = armPower(p.Status.PowerState)
	}
	if nv.vm != nil {
		applyNodeFacts(&vm, nv)
	}
	vm.Annotations = annotationsOrGuarded(a.m.Tags)
	vm.Attestation, _ = attestationOf(a.m.Tags)
	return vm
}

// applyNodeFacts overlays the owner node's Get-VM on ARM's view.
func applyNodeFacts(vm *drivers.VM, nv nodeVM) {
	r := nv.vm
	vm.Node = nv.node
	if r.Generation > 0 {
		vm.Generation = r.Generation
	}
	if r.GuestStateIsolationType != nil {
		vm.SecurityType = drivers.SecurityStandard
		if r.TrustedLaunch() {
			vm.SecurityType = drivers.SecurityTrustedLaunch
		}
	}
	if r.SecureBoot != nil {
		vm.SecureBoot = *r.SecureBoot
	}
	if r.State != "" {
		vm.Power = hyperVPower(r.State)
	}
	vm.Infrastructure = vm.Infrastructure || r.Infrastructure
	switch verdict, _ := azlocal.StateFileAccess(r); verdict {
	case azlocal.AccessRestricted:
		vm.FileAccess = drivers.FileAccessHostAdminsOnly
	case azlocal.AccessViolation:
		vm.FileAccess = drivers.FileAccessViolation
	}
}

// localVM is a VM only a node knows: made with local tools (unmanaged,
// never touched) or the platform's own (infrastructure).
func (c *conn) localVM(nv nodeVM) drivers.VM {
	vm := drivers.VM{Name: nv.vm.Name, ID: nv.vm.VMID, Generation: 2, SecurityType: drivers.SecurityStandard, Power: drivers.PowerOther,
		FileAccess: drivers.FileAccessUnknown, Infrastructure: c.infra[nv.vm.Name]}
	applyNodeFacts(&vm, nv)
	return vm
}

// annotationsOrGuarded reads the tags; tags edited by hand into values
// tlreconcile never writes are not trusted: the VM stays managed, protected
// (nothing destructive until the tags are fixed), with no recorded identity.
func annotationsOrGuarded(tags map[string]string) *drivers.Annotations {
	a, err := annotationsFromTags(tags)
	if err != nil {
		return &drivers.Annotations{ManagedBy: drivers.ManagedBy, Protect: true}
	}
	return a
}

// armPower maps the VM instance's powerState.
func armPower(s string) drivers.PowerState {
	switch s {
	case powerRunning:
		return drivers.PowerRunning
	case powerStopped, powerDeallocated:
		return drivers.PowerOff
	}
	return drivers.PowerOther
}

// hyperVPower maps Get-VM's State.
func hyperVPower(s string) drivers.PowerState {
	switch s {
	case "Running":
		return drivers.PowerRunning
	case "Off":
		return drivers.PowerOff
	case "Saved":
		return drivers.PowerSaved
	case "Paused":
		return drivers.PowerPaused
	}
	return drivers.PowerOther
}

func isNotFound(err error) bool { return errors.Is(err, drivers.ErrNotFound) }
