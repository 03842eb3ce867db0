package azurelocal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// Apply carries out one op: VM lifecycle, hardware, power and tags through
// ARM; moves, Secure Boot re-enable, file access, agents and live-migration
// encryption on the nodes. It needs nothing from an earlier Observe.
func (d *Driver) Apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	res, err := d.apply(ctx, ref, op)
	if err != nil {
		return drivers.Result{}, &drivers.OpError{Op: op.Kind, Target: op.Target().String(), Err: err}
	}
	return res, nil
}

func (d *Driver) apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	if !drivers.AzureLocal().Has(op.Kind) {
		return drivers.Result{}, fmt.Errorf("op %q does not exist on Azure Local (its vTPM is protected by the guest state key, not by key protectors or TPM cmdlets): %w", op.Kind, drivers.ErrNotSupported)
	}
	c, err := d.connect(ctx, ref)
	if err != nil {
		return drivers.Result{}, err
	}
	if op.VM != "" && c.infra[op.VM] {
		return drivers.Result{}, fmt.Errorf("the VM is Azure Local infrastructure (the Arc resource bridge); nothing may change it: %w", drivers.ErrPrecondition)
	}
	switch op.Kind {
	case drivers.OpStartIgvmAgent:
		return c.nodeOp(ctx, op.Node, azlocal.ScriptStartIGVmAgent, struct{}{})
	case drivers.OpEnableMigrationIPsec:
		return c.enableMigrationEncryption(ctx, op.Node)
	case drivers.OpBackupGuestStateKeys:
		return c.backupKeys(ctx, op)
	case drivers.OpMoveVM, drivers.OpSetSecureBoot, drivers.OpRestrictFileAccess:
		return c.ownerOp(ctx, op)
	}
	return c.armOp(ctx, op)
}

// armOp carries out the ops that go through ARM.
func (c *conn) armOp(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	switch op.Kind {
	case drivers.OpCreateVM:
		return c.createVM(ctx, op)
	case drivers.OpDeleteVM:
		return c.deleteVM(ctx, op.VM)
	case drivers.OpStartVM:
		return c.power(ctx, op.VM, actionStart)
	case drivers.OpStopVM:
		return c.power(ctx, op.VM, actionStop)
	case drivers.OpSetHardware:
		return c.setHardware(ctx, op)
	case drivers.OpSetAnnotations:
		return c.setAnnotations(ctx, op)
	case drivers.OpAttest:
		return c.attest(ctx, op)
	}
	return drivers.Result{}, fmt.Errorf("op %q: %w", op.Kind, drivers.ErrNotSupported)
}

// managedVM reads the VM's machine and instance and refuses a VM tlreconcile
// does not manage unless the op creates it.
func (c *conn) managedVM(ctx context.Context, name string) (machine, vmInstance, error) {
	m, err := c.arm.getMachine(ctx, name)
	if err != nil {
		return m, vmInstance{}, err
	}
	if err := requireManaged(m, name); err != nil {
		return m, vmInstance{}, err
	}
	v, err := c.arm.getVM(ctx, name)
	return m, v, err
}

func (c *conn) power(ctx context.Context, name, action string) (drivers.Result, error) {
	_, v, err := c.managedVM(ctx, name)
	if err != nil {
		return drivers.Result{}, err
	}
	// Whether it is so already is the owner node's word: ARM's powerState
	// is the resource bridge's last sync and lags a VM started or stopped
	// on the node (Hyper-V Manager, a failover), which the node shows.
	o, onNode := c.owner(ctx, v.Properties.VMID)
	if already(action, v.Properties.Status, o, onNode) {
		return drivers.Result{Message: "already " + strings.ToLower(map[string]string{actionStart: powerRunning, actionStop: powerStopped}[action])}, nil
	}
	if action == actionStart && onNode {
		if err := agentsRun(o.node, o.report); err != nil {
			return drivers.Result{}, err
		}
	}
	if _, err := c.arm.power(ctx, name, action); err != nil {
		return drivers.Result{}, err
	}
	return drivers.Result{Changed: true, Message: action + " through ARM"}, nil
}

// already reports whether the VM is in the state action makes: as its owner
// node reports it when it answers (onNode), else as ARM's status says.
func already(action string, st *vmStatus, o ownerView, onNode bool) bool {
	if onNode {
		if action == actionStart {
			return o.state == "Running"
		}
		return o.state == "Off"
	}
	if st == nil {
		return false
	}
	if action == actionStart {
		return st.PowerState == powerRunning
	}
	return st.PowerState == powerStopped || st.PowerState == powerDeallocated
}

func (c *conn) setHardware(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	p := op.Params
	if p == nil || p.Processors <= 0 || p.MemoryMB <= 0 {
		return drivers.Result{}, fmt.Errorf("set-hardware needs params.processors and params.memory_mb: %w", drivers.ErrInvalidArgument)
	}
	_, v, err := c.managedVM(ctx, op.VM)
	if err != nil {
		return drivers.Result{}, err
	}
	hw := v.Properties.HardwareProfile
	if hw != nil && hw.Processors == p.Processors && hw.MemoryMB == p.MemoryMB && v.Properties.ProvisioningState != provFailed {
		return drivers.Result{Message: "hardware already so"}, nil
	}
	if st := v.Properties.Status; st != nil && st.PowerState == powerRunning && hw != nil && hw.Processors != p.Processors {
		// Hyper-V cannot change a running VM's processor count (the profile's
		// OffFor): refused here instead of by a failed operation that leaves
		// ARM's model at the size the VM does not have.
		return drivers.Result{}, fmt.Errorf("set-hardware: the VM is Running and its processor count (%d, want %d) changes only while it is Off: stop it first, then set the hardware: %w",
			hw.Processors, p.Processors, drivers.ErrInvalidState)
	}
	if _, err := c.arm.setHardware(ctx, op.VM, hardwareProfile{VMSize: vmSizeCustom, Processors: p.Processors, MemoryMB: p.MemoryMB}); err != nil {
		return drivers.Result{}, err
	}
	return drivers.Result{Changed: true, Message: fmt.Sprintf("%d processors, %d MB through ARM", p.Processors, p.MemoryMB)}, nil
}

func (c *conn) setAnnotations(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	if op.Params == nil || op.Params.Annotations == nil {
		return drivers.Result{}, fmt.Errorf("set-annotations needs params.annotations: %w", drivers.ErrInvalidArgument)
	}
	m, _, err := c.managedVM(ctx, op.VM)
	if err != nil {
		return drivers.Result{}, err
	}
	tags, err := tagsWithAnnotations(m.Tags, op.Params.Annotations)
	if err != nil {
		return drivers.Result{}, err
	}
	if sameTags(tags, m.Tags) {
		return drivers.Result{Message: "tags already so"}, nil
	}
	if _, err := c.arm.setMachineTags(ctx, op.VM, tags); err != nil {
		return drivers.Result{}, err
	}
	return drivers.Result{Changed: true, Message: "ARM tags of the Arc machine"}, nil
}

func sameTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// deleteVM deletes the VM instance (ARM deletes its Hyper-V VM, files and
// guest state key), then the Arc machine, then the NIC create-vm made.
// A machine whose instance is gone (an interrupted create or delete) is
// still deleted with its NIC, so nothing tlreconcile made is left behind.
func (c *conn) deleteVM(ctx context.Context, name string) (drivers.Result, error) {
	m, err := c.arm.getMachine(ctx, name)
	switch {
	case isNotFound(err):
		return drivers.Result{Message: "already absent"}, nil
	case err != nil:
		return drivers.Result{}, err
	}
	if err := requireManaged(m, name); err != nil {
		return drivers.Result{}, err
	}
	if err := c.arm.deleteVM(ctx, name); err != nil && !isNotFound(err) {
		return drivers.Result{}, err
	}
	if err := c.arm.deleteMachine(ctx, name); err != nil && !isNotFound(err) {
		return drivers.Result{}, err
	}
	if err := c.arm.deleteNIC(ctx, nicName(name)); err != nil && !isNotFound(err) {
		return drivers.Result{}, fmt.Errorf("the VM is deleted but its network interface %s is not: %w", nicName(name), err)
	}
	return drivers.Result{Changed: true, Message: "VM instance, Arc machine and network interface deleted through ARM"}, nil
}

// nodeOp runs a node-level script on node.
func (c *conn) nodeOp(ctx context.Context, node, script string, params any) (drivers.Result, error) {
	s, err := c.node(node)
	if err != nil {
		return drivers.Result{}, err
	}
	var r azlocal.OpResult
	if err := s.Run(ctx, script, params, &r); err != nil {
		return drivers.Result{}, nodeError(err)
	}
	return drivers.Result{Changed: r.Changed, Message: r.Message}, nil
}

// nodeError maps a node's refusal to touch infrastructure to a
// precondition (never retried); other errors are psnode's mapping.
func nodeError(err error) error {
	if azlocal.IsInfrastructure(err) {
		return fmt.Errorf("%w: %w", err, drivers.ErrPrecondition)
	}
	return err
}

// ownerOp runs a VM op on the VM's owner node: the VM's ID comes from ARM,
// and the node that owns it is the one that does not answer "not on this
// node" (any node of the cluster may own it after a failover).
func (c *conn) ownerOp(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	_, v, err := c.managedVM(ctx, op.VM)
	if err != nil {
		return drivers.Result{}, err
	}
	vp := azlocal.VMParams{VMID: v.Properties.VMID, VM: op.VM, Infrastructure: c.infrastructure()}
	script, params := azlocal.ScriptSetSecureBoot, any(vp)
	switch op.Kind {
	case drivers.OpMoveVM:
		if op.Params == nil || op.Params.TargetNode == "" {
			return drivers.Result{}, fmt.Errorf("move-vm needs params.target_node: %w", drivers.ErrInvalidArgument)
		}
		if _, err := c.node(op.Params.TargetNode); err != nil {
			return drivers.Result{}, err
		}
		script, params = azlocal.ScriptMoveVM, azlocal.MoveParams{VMParams: vp, TargetNode: op.Params.TargetNode}
	case drivers.OpRestrictFileAccess:
		script = azlocal.ScriptRestrictFileAccess
	case drivers.OpSetSecureBoot:
		if op.Params != nil && op.Params.SecureBoot != nil && !*op.Params.SecureBoot {
			return drivers.Result{}, fmt.Errorf("an Azure Local VM's Secure Boot is only ever switched back on; switching it off is a replace: %w", drivers.ErrNotSupported)
		}
	}
	var last error
	for _, n := range c.ref.Nodes {
		res, err := c.nodeOp(ctx, n, script, params)
		if err == nil || !notOnThisNode(err) {
			return res, err
		}
		last = err
	}
	return drivers.Result{}, fmt.Errorf("no node of cluster %s owns the VM (ID %s): %w", c.ref.Name, vp.VMID, errors.Join(last, drivers.ErrNotFound))
}

// notOnThisNode: the node answered that the VM is not its own, or could not
// be reached (then another node may own it).
func notOnThisNode(err error) bool {
	if se, ok := psnode.AsScriptError(err); ok {
		return se.Category == psnode.CategoryNotFound
	}
	return drivers.IsTransient(err)
}

// backupKeys runs Backup-TVMKeys on the step's node: a timestamped folder of
// the vault's keys wrapped under the declared RSA public key.
func (c *conn) backupKeys(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	kb := op.Params
	if kb == nil || kb.KeyBackup == nil || kb.KeyBackup.WrappingKey == "" || kb.KeyBackup.Destination == "" {
		return drivers.Result{}, fmt.Errorf("backup-guest-state-keys needs params.key_backup.wrapping_key and destination: %w", drivers.ErrInvalidArgument)
	}
	s, err := c.node(op.Node)
	if err != nil {
		return drivers.Result{}, err
	}
	var r azlocal.BackupResult
	if err := s.Run(ctx, azlocal.ScriptBackupGuestStateKeys, azlocal.BackupParams{WrappingKeyPath: kb.KeyBackup.WrappingKey, BackupRoot: kb.KeyBackup.Destination}, &r); err != nil {
		return drivers.Result{}, nodeError(err)
	}
	return drivers.Result{Changed: true, Message: fmt.Sprintf("backup %s holds %d key(s)", r.Folder, len(r.Keys))}, nil
}

// requireManaged refuses an Arc machine tlreconcile did not create: it is
// never touched, whatever the op.
func requireManaged(m machine, name string) error {
	if m.Tags[tagManagedBy] != drivers.ManagedBy {
		return fmt.Errorf("vm/%s is not managed by tlreconcile (no %s tag): it is left untouched: %w", name, tagManagedBy, drivers.ErrPrecondition)
	}
	return nil
}
