package hyperv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Apply carries out one op on the node that owns the VM (or the named node), with one
// round trip in the common case. Errors are *drivers.OpError wrapping the sentinels.
// A fresh instance that has observed nothing reaches the cluster from ref and
// finds the VM's owner node with find-vm.
func (d *Driver) Apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	res, err := d.apply(ctx, ref, op)
	if err != nil {
		return drivers.Result{}, &drivers.OpError{Op: op.Kind, Target: op.Target().String(), Err: err}
	}
	return res, nil
}

func (d *Driver) apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	if !op.Kind.Valid() {
		return drivers.Result{}, fmt.Errorf("op %q: %w by the hyperv driver", op.Kind, drivers.ErrNotSupported)
	}
	if ref.Name != op.Cluster {
		return drivers.Result{}, fmt.Errorf("the op is for cluster %q but was sent to cluster %q: %w", op.Cluster, ref.Name, drivers.ErrInvalidArgument)
	}
	c, err := d.clusterFor(ref)
	if err != nil {
		return drivers.Result{}, err
	}
	switch op.Kind {
	case drivers.OpStartIgvmAgent:
		return d.nodeOp(ctx, c, op)
	case drivers.OpEnableMigrationIPsec:
		return d.enableMigrationIPsec(ctx, c, op)
	case drivers.OpCreateVM:
		return d.create(ctx, c, op)
	case drivers.OpSetAnnotations:
		return d.setAnnotations(ctx, c, op)
	case drivers.OpAttest:
		return d.attest(ctx, c, op)
	}
	if op.VM == "" {
		return drivers.Result{}, fmt.Errorf("%s names no VM: set op.vm: %w", op.Kind, drivers.ErrInvalidArgument)
	}
	script, p, err := BuildRequest(c.ref, c.opts, op, "")
	if err != nil {
		return drivers.Result{}, err
	}
	if op.Kind == drivers.OpMoveVM {
		if err := d.checkTarget(ctx, c, op); err != nil {
			return drivers.Result{}, err
		}
	}
	_, r, err := d.onOwner(ctx, c, op.VM, script, p)
	if err != nil {
		return drivers.Result{}, err
	}
	switch op.Kind {
	case drivers.OpDeleteVM:
		c.forget(op.VM)
	case drivers.OpMoveVM:
		c.mu.Lock()
		if vm, ok := c.vms[op.VM]; ok {
			vm.Node = c.nodeName(op.Params.TargetNode)
			c.vms[op.VM] = vm
		}
		c.mu.Unlock()
	}
	return drivers.Result{Changed: r.Changed, Message: r.Message}, nil
}

// onOwner runs a VM script on the VM's owner node; when the VM is not there (it failed
// over since the last observation) it finds the owner and tries once more.
func (d *Driver) onOwner(ctx context.Context, c *cluster, vm, script string, p *Payload) (string, OpResult, error) {
	var r OpResult
	node, err := d.onOwnerInto(ctx, c, vm, script, p, func() any { r = OpResult{}; return &r })
	return node, r, err
}

// onOwnerInto is onOwner for any answer: out gives a fresh value to decode each try into.
func (d *Driver) onOwnerInto(ctx context.Context, c *cluster, vm, script string, p *Payload, out func() any) (string, error) {
	node, err := d.locate(ctx, c, vm, false)
	if err != nil {
		return "", err
	}
	err = c.run(ctx, node, script, p, out())
	if se, ok := psnode.AsScriptError(err); ok && se.Category == psnode.CategoryNotFound {
		fresh, lerr := d.locate(ctx, c, vm, true)
		if lerr != nil {
			return "", lerr
		}
		if fresh != node {
			c.mu.Lock()
			if v, ok := c.vms[vm]; ok {
				v.Node = fresh
				c.vms[vm] = v
			}
			c.mu.Unlock()
			node = fresh
			err = c.run(ctx, node, script, p, out())
		}
	}
	return node, err
}

// checkTarget refuses to move a trusted-launch (isolated) VM to a node whose IGVmAgent is not
// running: the VM could not unlock its guest state there.
func (d *Driver) checkTarget(ctx context.Context, c *cluster, op drivers.Op) error {
	vm, _, ok := c.cached(op.VM)
	if !ok {
		// A fresh instance (apply of a saved plan) has not seen the VM yet.
		seen, err := d.ObserveVM(ctx, c.ref, op.VM)
		if err != nil {
			return fmt.Errorf("read the VM before the move: %w", err)
		}
		vm = *seen
	}
	if vm.SecurityType != drivers.SecurityTrustedLaunch {
		return nil // a standard VM's vTPM depends on the host guardian, not on IGVmAgent
	}
	target := c.nodeName(op.Params.TargetNode)
	var st NodeStatus
	if err := c.run(ctx, target, ScriptNodeStatus, &Payload{}, &st); err != nil {
		return fmt.Errorf("check node/%s before the move: %w", target, err)
	}
	if st.IgvmAgent == nil {
		return fmt.Errorf("node/%s has no IGVmAgent, so it cannot unlock trusted-launch VMs: pick another node, or redeploy it with IgvmAgent: %w", target, drivers.ErrPrecondition)
	}
	if !strings.EqualFold(*st.IgvmAgent, "Running") {
		return fmt.Errorf("IGVmAgent is %s on node/%s, so it cannot unlock the VM's guest state: start-igvm-agent there first: %w", *st.IgvmAgent, target, drivers.ErrPrecondition)
	}
	return nil
}

func (d *Driver) nodeOp(ctx context.Context, c *cluster, op drivers.Op) (drivers.Result, error) {
	nodes := c.ref.Nodes
	if op.Node != "" {
		if !containsFold(c.ref.Nodes, op.Node) {
			return drivers.Result{}, fmt.Errorf("node/%s: %w in cluster %s", op.Node, drivers.ErrNotFound, c.ref.Name)
		}
		nodes = []string{c.nodeName(op.Node)}
	}
	out := drivers.Result{}
	var msgs []string
	for _, n := range nodes {
		var r OpResult
		if err := c.run(ctx, n, string(op.Kind), &Payload{}, &r); err != nil {
			return out, err
		}
		out.Changed = out.Changed || r.Changed
		msgs = append(msgs, r.Message)
	}
	out.Message = strings.Join(msgs, "; ")
	return out, nil
}

func (d *Driver) create(ctx context.Context, c *cluster, op drivers.Op) (drivers.Result, error) {
	script, p, err := BuildRequest(c.ref, c.opts, op, "")
	if err != nil {
		return drivers.Result{}, err
	}
	if _, _, ok := c.cached(op.VM); ok {
		return drivers.Result{}, fmt.Errorf("a VM with this name was observed in cluster %s: choose another name, or delete the old VM first: %w", c.ref.Name, drivers.ErrAlreadyExists)
	}
	node := c.ref.Nodes[0]
	if op.Params.TargetNode != "" {
		node = c.nodeName(op.Params.TargetNode)
	}
	var r OpResult
	if err := c.run(ctx, node, script, p, &r); err != nil {
		return drivers.Result{}, err
	}
	c.remember(drivers.VM{Name: op.VM, Node: node, SecurityType: p.SecurityType, Annotations: op.Params.Annotations}, *p.Notes)
	return drivers.Result{Changed: r.Changed, Message: r.Message}, nil
}

// setAnnotations writes the block with a compare-and-swap on the whole Notes: when an
// administrator edited them since they were read, it merges into their new text and retries.
func (d *Driver) setAnnotations(ctx context.Context, c *cluster, op drivers.Op) (drivers.Result, error) {
	if op.VM == "" {
		return drivers.Result{}, fmt.Errorf("set-annotations names no VM: set op.vm: %w", drivers.ErrInvalidArgument)
	}
	_, current, _ := c.cached(op.VM)
	r, err := d.writeNotes(ctx, c, op.VM, current, func(current string) (*Payload, error) {
		_, p, err := BuildRequest(c.ref, c.opts, op, current)
		return p, err
	})
	if err != nil {
		return drivers.Result{}, err
	}
	c.mu.Lock()
	if vm, ok := c.vms[op.VM]; ok {
		vm.Annotations = op.Params.Annotations
		c.vms[op.VM] = vm
	}
	c.mu.Unlock()
	return drivers.Result{Changed: r.Changed, Message: r.Message}, nil
}

// writeNotes runs set-annotations.ps1, the compare-and-swap on a VM's whole Notes, with the
// payload build makes from the Notes last seen; when they changed since (an administrator's
// edit) it builds again from their new text, up to three times. The Notes written are cached.
func (d *Driver) writeNotes(ctx context.Context, c *cluster, vm, current string, build func(current string) (*Payload, error)) (OpResult, error) {
	for attempt := 0; attempt < 3; attempt++ {
		p, err := build(current)
		if err != nil {
			return OpResult{}, err
		}
		_, r, err := d.onOwner(ctx, c, vm, string(drivers.OpSetAnnotations), p)
		if err != nil {
			return OpResult{}, err
		}
		if r.Applied != nil && !*r.Applied {
			if r.Current == nil {
				return OpResult{}, errors.New("set-annotations answered without the current Notes (a script defect)")
			}
			current = *r.Current
			continue
		}
		c.mu.Lock()
		c.raw[vm] = *p.Notes
		c.mu.Unlock()
		return r, nil
	}
	return OpResult{}, drivers.Transient(errors.New("the VM's Notes keep changing while tlreconcile writes its block; retry when nobody edits them"))
}
