package hvmodel

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

var templates = map[string]bool{
	"MicrosoftWindows":                  true,
	"MicrosoftUEFICertificateAuthority": true,
	"OpenSourceShieldedVM":              true,
}

// setSecureBoot is Set-VMFirmware -EnableSecureBoot -SecureBootTemplate.
func setSecureBoot(vm *vmRecord, p *drivers.Params) (drivers.Result, error) {
	if p.SecureBoot == nil && p.SecureBootTemplate == "" {
		return drivers.Result{}, fmt.Errorf("nothing to set: give secure_boot and/or secure_boot_template: %w", drivers.ErrInvalidArgument)
	}
	if p.SecureBootTemplate != "" && !templates[p.SecureBootTemplate] {
		return drivers.Result{}, fmt.Errorf("secure boot template %q: use MicrosoftWindows, MicrosoftUEFICertificateAuthority or OpenSourceShieldedVM: %w", p.SecureBootTemplate, drivers.ErrInvalidArgument)
	}
	if vm.Generation != 2 {
		return drivers.Result{}, errGen1("Secure Boot")
	}
	on, tmpl := vm.SecureBoot, vm.SecureBootTemplate
	if p.SecureBoot != nil {
		on = *p.SecureBoot
	}
	if p.SecureBootTemplate != "" {
		tmpl = p.SecureBootTemplate
	}
	if on == vm.SecureBoot && tmpl == vm.SecureBootTemplate {
		return unchanged("Secure Boot already so")
	}
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "changing Secure Boot")
	}
	if tmpl != vm.SecureBootTemplate && vm.VTPMInitialized {
		return drivers.Result{}, fmt.Errorf("the Secure Boot template cannot change after the vTPM is initialised (it is measured into the vTPM): keep %s, or reset the vTPM first (disable-tpm destroys its secrets): %w", vm.SecureBootTemplate, drivers.ErrPrecondition)
	}
	vm.SecureBoot, vm.SecureBootTemplate = on, tmpl
	return changed(fmt.Sprintf("Secure Boot %s, template %s", onOff(on), tmpl))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// ensureKeyProtector is Set-VMKeyProtector -NewLocalKeyProtector when the VM
// has none, or when reset asks to replace it; replacing one resets the vTPM.
func (d *Driver) ensureKeyProtector(ctx context.Context, c *cluster, vm *vmRecord, reset bool) (drivers.Result, error) {
	if vm.Generation != 2 {
		return drivers.Result{}, errGen1("a key protector")
	}
	had := len(vm.KeyProtector) > 0
	if had && !reset {
		return unchanged("key protector present")
	}
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "setting a key protector")
	}
	kp := make([]byte, keyProtLen)
	copy(kp, kpPrefix)
	if _, err := rand.Read(kp[len(kpPrefix):]); err != nil {
		return drivers.Result{}, err
	}
	vm.KeyProtector = kp
	if !had {
		return changed("new local key protector")
	}
	if err := d.wipeVTPM(ctx, c, vm); err != nil {
		return drivers.Result{}, err
	}
	return changed("key protector replaced: the vTPM was reset and its secrets are gone")
}

// wipeVTPM resets the VM's vTPM (new seed or new swtpm state).
func (d *Driver) wipeVTPM(ctx context.Context, c *cluster, vm *vmRecord) error {
	key, err := c.rawVaultKey(vm.ID)
	if err != nil {
		return err
	}
	if err := d.resetVTPM(ctx, c, vm, key, c.guestEpoch(vm, key)+1); err != nil {
		return fmt.Errorf("reset vTPM: %w", err)
	}
	vm.VTPMInitialized = false
	return nil
}

// enableTPM is Enable-VMTPM.
func enableTPM(vm *vmRecord) (drivers.Result, error) {
	if vm.Generation != 2 {
		return drivers.Result{}, errGen1("a vTPM")
	}
	if vm.TPMEnabled {
		return unchanged("vTPM already enabled")
	}
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "enabling the vTPM")
	}
	if len(vm.KeyProtector) == 0 {
		return drivers.Result{}, fmt.Errorf("the vTPM cannot be changed without a valid key protector: run ensure-key-protector first: %w", drivers.ErrPrecondition)
	}
	vm.TPMEnabled = true
	return changed("vTPM enabled")
}

// disableTPM is Disable-VMTPM; the vTPM's secrets are destroyed.
func (d *Driver) disableTPM(ctx context.Context, c *cluster, vm *vmRecord) (drivers.Result, error) {
	if vm.Generation != 2 {
		return drivers.Result{}, errGen1("a vTPM")
	}
	if !vm.TPMEnabled {
		return unchanged("vTPM already disabled")
	}
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "disabling the vTPM")
	}
	if err := d.wipeVTPM(ctx, c, vm); err != nil {
		return drivers.Result{}, err
	}
	vm.TPMEnabled = false
	return changed("vTPM disabled: its secrets are gone")
}

// setSecurity is Set-VMSecurity. The VBS opt-out needs the VM Off; state
// encryption needs a key protector to encrypt with.
func setSecurity(vm *vmRecord, p *drivers.Params) (drivers.Result, error) {
	if p.EncryptState == nil && p.VBSOptOut == nil {
		return drivers.Result{}, fmt.Errorf("nothing to set: give encrypt_state and/or vbs_opt_out: %w", drivers.ErrInvalidArgument)
	}
	if vm.Generation != 2 {
		return drivers.Result{}, errGen1("VM security settings")
	}
	enc, vbs := vm.EncryptState, vm.VBSOptOut
	if p.EncryptState != nil {
		enc = *p.EncryptState
	}
	if p.VBSOptOut != nil {
		vbs = *p.VBSOptOut
	}
	if enc == vm.EncryptState && vbs == vm.VBSOptOut {
		return unchanged("security settings already so")
	}
	if vbs != vm.VBSOptOut && vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "changing the VBS opt-out")
	}
	if enc && !vm.EncryptState && len(vm.KeyProtector) == 0 {
		return drivers.Result{}, fmt.Errorf("encrypting state and migration traffic needs a key protector: run ensure-key-protector first: %w", drivers.ErrPrecondition)
	}
	vm.EncryptState, vm.VBSOptOut = enc, vbs
	return changed(fmt.Sprintf("encrypt state %s, VBS opt-out %s", onOff(enc), onOff(vbs)))
}

func checkProcessors(n int) error {
	if n < 1 || n > maxProcessors {
		return fmt.Errorf("processor count %d: use 1 to %d: %w", n, maxProcessors, drivers.ErrInvalidArgument)
	}
	return nil
}

func checkMemory(mb int64) error {
	if mb < minMemoryMB || mb > maxMemoryMB || mb%2 != 0 {
		return fmt.Errorf("memory %d MB: use an even number of MB from %d to %d: %w", mb, minMemoryMB, maxMemoryMB, drivers.ErrInvalidArgument)
	}
	return nil
}

// setProcessor is Set-VMProcessor -Count, which Hyper-V allows only while Off.
func setProcessor(vm *vmRecord, n int) (drivers.Result, error) {
	if err := checkProcessors(n); err != nil {
		return drivers.Result{}, err
	}
	if vm.Processors == n {
		return unchanged("processor count already so")
	}
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "changing the processor count")
	}
	vm.Processors = n
	return changed(fmt.Sprintf("%d processors", n))
}

// setMemory is Set-VMMemory -StartupBytes for static memory. The sim is the
// strict host: it refuses while the VM runs, as Hyper-V does for static
// memory unless the guest supports runtime resize, which tlreconcile does not
// rely on.
func setMemory(vm *vmRecord, mb int64) (drivers.Result, error) {
	if err := checkMemory(mb); err != nil {
		return drivers.Result{}, err
	}
	if vm.MemoryMB == mb {
		return unchanged("memory already so")
	}
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "changing static memory")
	}
	vm.MemoryMB = mb
	return changed(fmt.Sprintf("%d MB memory", mb))
}

// setAnnotations replaces tlreconcile's record on the VM; nil removes it.
func setAnnotations(vm *vmRecord, a *drivers.Annotations) (drivers.Result, error) {
	if a == nil && vm.Annotations == nil || a != nil && vm.Annotations != nil && *a == *vm.Annotations {
		return unchanged("annotations already so")
	}
	if a == nil {
		vm.Annotations = nil
		return changed("annotations removed")
	}
	cp := *a
	vm.Annotations = &cp
	return changed("annotations set")
}
