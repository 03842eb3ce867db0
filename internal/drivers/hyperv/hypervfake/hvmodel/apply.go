package hvmodel

import (
	"context"
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Apply carries out one op with Hyper-V's rules. Errors are *drivers.OpError
// ("vm/NAME: op: why: what to do") wrapping the drivers sentinels. Injected
// latency is slept before any lock is taken, so ops on different VMs overlap.
// Everything it needs is in ref and op and on disk: a fresh instance applies
// as well as one that observed.
func (d *Driver) Apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	res, err := d.apply(ctx, ref, op)
	if err != nil {
		return res, &drivers.OpError{Op: op.Kind, Target: op.Target().String(), Err: err}
	}
	return res, nil
}

func (d *Driver) apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	if !op.Kind.Valid() {
		return drivers.Result{}, fmt.Errorf("unknown op %q: %w", op.Kind, drivers.ErrNotSupported)
	}
	if op.Cluster == "" {
		return drivers.Result{}, fmt.Errorf("the op names no cluster: set op.cluster: %w", drivers.ErrInvalidArgument)
	}
	if ref.Name != op.Cluster {
		return drivers.Result{}, fmt.Errorf("the op is for cluster %q but was sent to cluster %q: %w", op.Cluster, ref.Name, drivers.ErrInvalidArgument)
	}
	c, err := d.loadCluster(op.Cluster)
	if err != nil {
		return drivers.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return drivers.Result{}, err
	}
	if err := d.injectFault(ctx, c, op.Kind); err != nil {
		return drivers.Result{}, err
	}
	p := op.Params
	if p == nil {
		p = &drivers.Params{}
	}
	switch op.Kind {
	case drivers.OpStartIgvmAgent:
		return d.startIgvmAgent(c, op.Node)
	case drivers.OpEnableMigrationIPsec:
		return d.enableMigrationIPsec(c, op.Node)
	}
	if op.VM == "" {
		return drivers.Result{}, fmt.Errorf("the op names no VM: set op.vm: %w", drivers.ErrInvalidArgument)
	}
	return d.applyVM(ctx, c, op, p)
}

// applyVM carries out an op on one VM.
func (d *Driver) applyVM(ctx context.Context, c *cluster, op drivers.Op, p *drivers.Params) (drivers.Result, error) {
	switch op.Kind {
	case drivers.OpCreateVM:
		return d.createVM(ctx, c, op.VM, p)
	case drivers.OpDeleteVM:
		return d.deleteVM(c, op.VM)
	case drivers.OpStopVM:
		return d.withVM(c, op.VM, c.stopVM)
	case drivers.OpStartVM:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return c.startVM(vm) })
	case drivers.OpSetSecureBoot:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return setSecureBoot(vm, p) })
	case drivers.OpEnsureKeyProtector:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return d.ensureKeyProtector(ctx, c, vm, p.Reset) })
	case drivers.OpEnableTPM:
		return d.withVM(c, op.VM, enableTPM)
	case drivers.OpDisableTPM:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return d.disableTPM(ctx, c, vm) })
	case drivers.OpSetSecurity:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return setSecurity(vm, p) })
	case drivers.OpSetProcessor:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return setProcessor(vm, p.Processors) })
	case drivers.OpSetMemory:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return setMemory(vm, p.MemoryMB) })
	case drivers.OpMoveVM:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return c.moveVM(vm, p.TargetNode, p.MigrationType) })
	case drivers.OpSetAnnotations:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return setAnnotations(vm, p.Annotations) })
	case drivers.OpRestrictFileAccess:
		return d.withVM(c, op.VM, func(vm *vmRecord) (drivers.Result, error) { return c.restrictFileAccess(vm) })
	case drivers.OpAttest:
		return d.attest(ctx, c, op.VM)
	}
	return drivers.Result{}, fmt.Errorf("op %q on a VM: %w", op.Kind, drivers.ErrNotSupported)
}

// withVM runs fn on the VM's record under the VM's lock and writes the record
// when fn reports a change. The lock covers one VM only, so ops on different
// VMs run in parallel.
func (d *Driver) withVM(c *cluster, name string, fn func(vm *vmRecord) (drivers.Result, error)) (drivers.Result, error) {
	vm, unlock, err := c.lockVM(name)
	if err != nil {
		return drivers.Result{}, err
	}
	defer unlock()
	res, err := fn(vm)
	if err != nil || !res.Changed {
		return res, err
	}
	if err := c.writeVM(vm); err != nil {
		return drivers.Result{}, fmt.Errorf("write VM state: %w", err)
	}
	return res, nil
}

// lockVM takes the VM's lock and reads its record; the caller runs unlock.
func (c *cluster) lockVM(name string) (vm *vmRecord, unlock func(), err error) {
	if err := checkName("vm", name); err != nil {
		return nil, nil, err
	}
	l, err := lock(c.vmLock(name))
	if err != nil {
		return nil, nil, err
	}
	if vm, err = c.readVM(name); err != nil {
		l.unlock()
		return nil, nil, err
	}
	return vm, l.unlock, nil
}

func unchanged(msg string) (drivers.Result, error) {
	return drivers.Result{Changed: false, Message: msg}, nil
}

func changed(msg string) (drivers.Result, error) {
	return drivers.Result{Changed: true, Message: msg}, nil
}

// Errors shaped like the ones a Hyper-V host gives, saying what to do next.

func errNotOff(vm *vmRecord, what string) error {
	return fmt.Errorf("%s needs the VM Off, it is %s (Hyper-V error 32775, invalid state for the operation): stop the VM first (stop-vm) or let the plan put the change in its stop/start window: %w", what, vm.Power, drivers.ErrInvalidState)
}

func errGen1(what string) error {
	return fmt.Errorf("%s needs a Generation 2 VM and this one is Generation 1, which cannot be converted: replace the VM with a Generation 2 one: %w", what, drivers.ErrPrecondition)
}

// errAgent says why a trusted-launch VM cannot run on node n.
func errAgent(n *nodeRecord) error {
	fix := "start it (start-igvm-agent) or choose another node"
	if n.IgvmAgent == drivers.AgentAbsent {
		fix = "redeploy the node with IgvmAgent installed, or choose another node"
	}
	return fmt.Errorf("node %s: IgvmAgent is %s, so the node cannot unlock the VM's guest state (vTPM): %s: %w", n.Name, n.IgvmAgent, fix, drivers.ErrPrecondition)
}

// needsGuestKey reports whether running vm needs its node to unlock the guest state.
func needsGuestKey(vm *vmRecord) bool {
	return vm.SecurityType == drivers.SecurityTrustedLaunch || vm.TPMEnabled
}

// checkHost checks that node n can host vm.
func checkHost(vm *vmRecord, n *nodeRecord) error {
	if n.State != drivers.NodeUp {
		return fmt.Errorf("node %s is %s: bring it back Up or choose another node: %w", n.Name, n.State, drivers.ErrPrecondition)
	}
	if needsGuestKey(vm) && n.IgvmAgent != drivers.AgentRunning {
		return errAgent(n)
	}
	return nil
}
