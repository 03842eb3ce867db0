package hypervfake_test

import (
	"errors"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
)

// TestKeyProtectorResetLeavesGuestStateWritten (issue 13, item 2): observe.ps1 reports
// TpmInitialized as "TpmEnabled and a non-empty .vmgs" (Test-TlrVmgs). The .vmgs is the VM's
// guest-state file, created empty with the VM (HcsCreateEmptyGuestStateFile, Host Compute
// System API reference) and written once the vTPM has run; Set-VMKeyProtector
// -NewLocalKeyProtector gives the vTPM a new key but leaves that file written, and Hyper-V
// then still refuses "Cannot modify the secure boot template ID property after the virtual
// TPM is initialized" (Set-VMFirmware's error, as seen in hashicorp/packer#11399). So the
// fake reports what the real script reports: initialised after the reset too, and the
// template change refused; a new VM of the same name starts with an empty file, and a VM
// whose vTPM is disabled is never initialised.
func TestKeyProtectorResetLeavesGuestStateWritten(t *testing.T) {
	ref := testRef()
	d, _ := newDriver(t, ref, hypervfake.Options{})
	withVTPM := func() {
		mustApply(t, d, ref, createOp("tl", "node1", managed()))
		mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnsureKeyProtector, VM: "tl"})
		mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnableTPM, VM: "tl"})
	}
	withVTPM()
	if v := vmNamed(t, d, ref, "tl"); !v.TPMEnabled || v.VTPMInitialized {
		t.Fatalf("a new trusted-launch VM: TPMEnabled %v, VTPMInitialized %v; want true, false (its .vmgs is empty)", v.TPMEnabled, v.VTPMInitialized)
	}
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: "tl"})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStopVM, VM: "tl"})
	v0 := vmNamed(t, d, ref, "tl")
	if !v0.VTPMInitialized {
		t.Fatal("after its first run: VTPMInitialized = false, want true (the .vmgs is written)")
	}
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnsureKeyProtector, VM: "tl", Params: &drivers.Params{Reset: true}})
	v1 := vmNamed(t, d, ref, "tl")
	if !v1.VTPMInitialized {
		t.Error("after a key-protector reset: VTPMInitialized = false; observe.ps1 reports true, since the reset leaves the .vmgs written")
	}
	if v1.VTPMIdentity == v0.VTPMIdentity {
		t.Error("after a key-protector reset: the vTPM identity did not change")
	}
	_, err := d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpSetSecureBoot, Cluster: ref.Name, VM: "tl", Params: &drivers.Params{SecureBootTemplate: "MicrosoftUEFICertificateAuthority"}})
	if !errors.Is(err, drivers.ErrPrecondition) {
		t.Errorf("template change after a reset: %v; want a precondition error (the .vmgs is still written)", err)
	}

	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpDeleteVM, VM: "tl"})
	withVTPM()
	if v := vmNamed(t, d, ref, "tl"); v.VTPMInitialized {
		t.Error("a new VM with a deleted VM's name: VTPMInitialized = true; its own .vmgs is empty")
	}
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpSetSecureBoot, VM: "tl", Params: &drivers.Params{SecureBootTemplate: "MicrosoftUEFICertificateAuthority"}})

	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: "tl"})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStopVM, VM: "tl"})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpDisableTPM, VM: "tl"})
	if v := vmNamed(t, d, ref, "tl"); v.TPMEnabled || v.VTPMInitialized {
		t.Errorf("after disable-tpm: TPMEnabled %v, VTPMInitialized %v; want false, false", v.TPMEnabled, v.VTPMInitialized)
	}
}
