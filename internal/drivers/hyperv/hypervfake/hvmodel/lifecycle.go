package hvmodel

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Hyper-V limits the sim enforces on create-vm, set-processor and set-memory.
const (
	maxProcessors = 240        // Generation 2 VM maximum
	minMemoryMB   = 32         // Hyper-V minimum startup memory
	maxMemoryMB   = 12 << 20   // 12 TB
	defaultProcs  = 1          // New-VM default
	defaultMemMB  = 1024       // New-VM default for Generation 2
	keyProtLen    = 64         // bytes of a generated key protector
	kpPrefix      = "TLRSIMKP" // marks sim key protectors in dumps
)

// createVM is New-VM: Off, Secure Boot on with the MicrosoftWindows template
// (Generation 2 defaults), no TPM, no key protector, annotations as given.
func (d *Driver) createVM(ctx context.Context, c *cluster, name string, p *drivers.Params) (drivers.Result, error) {
	if err := checkName("vm", name); err != nil {
		return drivers.Result{}, err
	}
	gen := p.Generation
	if gen == 0 {
		gen = 2
	}
	if gen != 1 && gen != 2 {
		return drivers.Result{}, fmt.Errorf("generation %d: Hyper-V VMs are Generation 1 or 2; use 2 for trusted launch: %w", gen, drivers.ErrInvalidArgument)
	}
	sec := p.SecurityType
	if sec == "" {
		sec = drivers.SecurityStandard
	}
	if sec != drivers.SecurityTrustedLaunch && sec != drivers.SecurityStandard {
		return drivers.Result{}, fmt.Errorf("security type %q: use %s or %s: %w", sec, drivers.SecurityTrustedLaunch, drivers.SecurityStandard, drivers.ErrInvalidArgument)
	}
	if sec == drivers.SecurityTrustedLaunch && gen == 1 {
		return drivers.Result{}, errGen1("security type TrustedLaunch")
	}
	procs := p.Processors
	if procs == 0 {
		procs = defaultProcs
	}
	if err := checkProcessors(procs); err != nil {
		return drivers.Result{}, err
	}
	mem := p.MemoryMB
	if mem == 0 {
		mem = defaultMemMB
	}
	if err := checkMemory(mem); err != nil {
		return drivers.Result{}, err
	}
	rec := &vmRecord{
		Name: name, Generation: gen, Power: drivers.PowerOff, Processors: procs, MemoryMB: mem,
		SecurityType: sec, Image: p.Image, Created: time.Now().UTC(),
	}
	if gen == 2 {
		rec.SecureBoot, rec.SecureBootTemplate = true, "MicrosoftWindows"
	}
	if p.Annotations != nil {
		a := *p.Annotations
		rec.Annotations = &a
	}
	node, err := c.placeNew(rec, p.TargetNode)
	if err != nil {
		return drivers.Result{}, err
	}
	rec.Node = node

	l, err := lock(c.vmLock(name))
	if err != nil {
		return drivers.Result{}, err
	}
	defer l.unlock()
	if exists(c.vmPath(name)) {
		return drivers.Result{}, fmt.Errorf("a VM named %q already exists in cluster %s: choose another name, or delete the old VM first: %w", name, c.file.Name, drivers.ErrAlreadyExists)
	}
	if rec.ID, err = newID(); err != nil {
		return drivers.Result{}, err
	}
	key, err := c.newVaultKey(rec.ID)
	if err != nil {
		return drivers.Result{}, err
	}
	// Hyper-V writes the guest-state file at creation; the vTPM state inside
	// it is what enable-tpm later exposes. The VM record is written last: it is
	// the commit point, so a crash before it leaves no half-created VM visible.
	if err := d.resetVTPM(ctx, c, rec, key, 1); err != nil {
		return drivers.Result{}, fmt.Errorf("create guest state: %w", err)
	}
	if err := c.writeVM(rec); err != nil {
		return drivers.Result{}, fmt.Errorf("write VM state: %w", err)
	}
	return changed(fmt.Sprintf("created Generation %d %s VM on %s", gen, sec, node))
}

// placeNew picks the node a new VM lands on: the requested one, or the first
// node that can host it.
func (c *cluster) placeNew(rec *vmRecord, want string) (string, error) {
	if want != "" {
		n := c.node(want)
		if n == nil {
			return "", errNoNode(c, want)
		}
		return want, checkHost(rec, n)
	}
	for i := range c.file.Nodes {
		if checkHost(rec, &c.file.Nodes[i]) == nil {
			return c.file.Nodes[i].Name, nil
		}
	}
	return "", fmt.Errorf("no node of cluster %s can host the VM (every node is down or has no running IgvmAgent): start an IgvmAgent (start-igvm-agent): %w", c.file.Name, drivers.ErrPrecondition)
}

func errNoNode(c *cluster, name string) error {
	return fmt.Errorf("no node %q in cluster %s: use one of the cluster's nodes: %w", name, c.file.Name, drivers.ErrNotFound)
}

// newID returns a random UUID (version 4), like a Hyper-V VMId.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// deleteVM is Remove-VM: the VM must be Off; its files and its vault key go.
func (d *Driver) deleteVM(c *cluster, name string) (drivers.Result, error) {
	vm, unlock, err := c.lockVM(name)
	if err != nil {
		return drivers.Result{}, err
	}
	defer unlock()
	if vm.Power != drivers.PowerOff {
		return drivers.Result{}, errNotOff(vm, "removing a VM")
	}
	if err := os.Remove(c.vmPath(name)); err != nil {
		return drivers.Result{}, fmt.Errorf("remove VM state: %w", err)
	}
	var errs []error
	for _, path := range []string{c.guestPath(vm.Node, name), c.swtpmDir(vm.Node, name), c.vaultPath(vm.ID)} {
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return drivers.Result{Changed: true}, fmt.Errorf("VM removed, but some of its files remain: %w: delete them by hand", err)
	}
	return changed("removed the VM and its guest state")
}

// stopVM is Stop-VM. It refuses while the VM's guest state is damaged: the VM
// could not start again, and the stop is most often the first step of a
// routine change whose start-vm would then leave it Off.
func (c *cluster) stopVM(vm *vmRecord) (drivers.Result, error) {
	if vm.Power == drivers.PowerOff {
		return unchanged("already Off")
	}
	if vm.TPMEnabled {
		if err := c.guestDamage(vm); err != nil {
			return drivers.Result{}, fmt.Errorf("%w: the VM could not start again once stopped, so stop-vm refuses and it stays %s: restore the file from a backup; or stop it anyway (`tlreconcile sim drift --cluster %s --vm %s --set power=Off`) and reset the vTPM (ensure-key-protector with reset, or disable-tpm: either destroys the secrets sealed in it): %w",
				err, vm.Power, c.file.Name, vm.Name, drivers.ErrPrecondition)
		}
	}
	vm.Power = drivers.PowerOff
	return changed("stopped")
}

// startVM is Start-VM. A VM with a vTPM (or of the trusted-launch type) starts
// only where its node can unlock the guest state; the first start of an
// enabled vTPM initialises it.
func (c *cluster) startVM(vm *vmRecord) (drivers.Result, error) {
	if vm.Power == drivers.PowerRunning {
		return unchanged("already Running")
	}
	n := c.node(vm.Node)
	if n == nil {
		return drivers.Result{}, errNoNode(c, vm.Node)
	}
	if err := checkHost(vm, n); err != nil {
		return drivers.Result{}, err
	}
	if vm.TPMEnabled {
		_, _, err := c.openGuest(vm)
		switch {
		case errors.Is(err, errDamaged):
			return drivers.Result{}, fmt.Errorf("%w: the VM cannot start: %s: %w", err, fixGuest, drivers.ErrPrecondition)
		case errors.Is(err, errLocked):
			return drivers.Result{}, fmt.Errorf("node %s cannot unlock the VM's guest state (%v): the key vault has no matching key, so the vTPM is lost: reset it (ensure-key-protector with reset) or restore the VM: %w", vm.Node, err, drivers.ErrPrecondition)
		case err != nil:
			return drivers.Result{}, err
		}
		vm.VTPMInitialized = true
	}
	vm.Power = drivers.PowerRunning
	vm.BootExtra = slices.Clone(vm.BootTamper) // what this boot measures (InGuest)
	return changed("started on " + vm.Node)
}

// moveVM is Move-ClusterVirtualMachineRole: a Running VM live-migrates and
// keeps running, an Off VM is quick-moved. The guest-state file (and swtpm
// state) moves with it, so its vTPM identity does not change.
func (c *cluster) moveVM(vm *vmRecord, to, migration string) (drivers.Result, error) {
	if to == "" {
		return drivers.Result{}, fmt.Errorf("no target node: set params.target_node: %w", drivers.ErrInvalidArgument)
	}
	switch migration {
	case "", "Live", "Quick", "Shutdown":
	default:
		return drivers.Result{}, fmt.Errorf("migration type %q: use Live, Quick or Shutdown: %w", migration, drivers.ErrInvalidArgument)
	}
	n := c.node(to)
	if n == nil {
		return drivers.Result{}, errNoNode(c, to)
	}
	if vm.Node == to {
		return unchanged("already on " + to)
	}
	if err := checkHost(vm, n); err != nil {
		return drivers.Result{}, err
	}
	kind := "quick migration"
	if vm.Power == drivers.PowerRunning && migration != "Quick" && migration != "Shutdown" {
		kind = "live migration"
	}
	from := vm.Node
	if err := c.moveFiles(vm.Name, from, to); err != nil {
		return drivers.Result{}, err
	}
	vm.Node = to
	return changed(fmt.Sprintf("%s from %s to %s", kind, from, to))
}

// moveFiles renames the VM's guest state (and swtpm state) into another
// node's folder, undoing the first rename if the second fails.
func (c *cluster) moveFiles(vm, from, to string) error {
	if err := os.MkdirAll(c.nodeDir(to), 0o700); err != nil {
		return fmt.Errorf("move guest state: %w", err)
	}
	if err := os.Rename(c.guestPath(from, vm), c.guestPath(to, vm)); err != nil {
		return fmt.Errorf("move guest state: %w: the VM stays on %s", err, from)
	}
	if err := os.Rename(c.swtpmDir(from, vm), c.swtpmDir(to, vm)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = os.Rename(c.guestPath(to, vm), c.guestPath(from, vm))
		return fmt.Errorf("move vTPM state: %w: the VM stays on %s", err, from)
	}
	return nil
}

// restrictFileAccess removes every permission beyond the owner (the host
// administrators) from the VM's state files.
func (c *cluster) restrictFileAccess(vm *vmRecord) (drivers.Result, error) {
	paths := []string{c.guestPath(vm.Node, vm.Name)}
	dir := c.swtpmDir(vm.Node, vm.Name)
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	did := false
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return drivers.Result{}, fmt.Errorf("restrict %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
			return drivers.Result{}, fmt.Errorf("restrict %s: %w", p, err)
		}
		did = true
	}
	if !did {
		return unchanged("access already restricted to host administrators")
	}
	// The record itself does not change; report the change without rewriting it.
	return drivers.Result{Changed: true, Message: "restricted to host administrators"}, nil
}

func protectorSHA256(kp []byte) string {
	if len(kp) == 0 {
		return ""
	}
	s := sha256.Sum256(kp)
	return hex.EncodeToString(s[:])
}
