package hyperv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

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
	case drivers.OpStartIgvmAgent, drivers.OpEnableMigrationIPsec:
		return d.nodeOp(ctx, c, op)
	case drivers.OpCreateVM:
		return d.create(ctx, c, op)
	case drivers.OpSetAnnotations:
		return d.setAnnotations(ctx, c, op)
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
	node, err := d.locate(ctx, c, vm, false)
	if err != nil {
		return "", OpResult{}, err
	}
	var r OpResult
	err = c.run(ctx, node, script, p, &r)
	if se, ok := psnode.AsScriptError(err); ok && se.Category == psnode.CategoryNotFound {
		fresh, lerr := d.locate(ctx, c, vm, true)
		if lerr != nil {
			return "", OpResult{}, lerr
		}
		if fresh != node {
			c.mu.Lock()
			if v, ok := c.vms[vm]; ok {
				v.Node = fresh
				c.vms[vm] = v
			}
			c.mu.Unlock()
			node = fresh
			r = OpResult{}
			err = c.run(ctx, node, script, p, &r)
		}
	}
	return node, r, err
}

// checkTarget refuses to move a vTPM-enabled VM to a node whose IGVmAgent is not running:
// the VM could not unlock its guest state there.
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
	if !vm.TPMEnabled && vm.SecurityType != drivers.SecurityTrustedLaunch {
		return nil
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
	c.remember(drivers.VM{Name: op.VM, Node: node, Annotations: op.Params.Annotations}, *p.Notes)
	return drivers.Result{Changed: r.Changed, Message: r.Message}, nil
}

// setAnnotations writes the block with a compare-and-swap on the whole Notes: when an
// administrator edited them since they were read, it merges into their new text and retries.
func (d *Driver) setAnnotations(ctx context.Context, c *cluster, op drivers.Op) (drivers.Result, error) {
	if op.VM == "" {
		return drivers.Result{}, fmt.Errorf("set-annotations names no VM: set op.vm: %w", drivers.ErrInvalidArgument)
	}
	_, current, _ := c.cached(op.VM)
	for attempt := 0; attempt < 3; attempt++ {
		script, p, err := BuildRequest(c.ref, c.opts, op, current)
		if err != nil {
			return drivers.Result{}, err
		}
		_, r, err := d.onOwner(ctx, c, op.VM, script, p)
		if err != nil {
			return drivers.Result{}, err
		}
		if r.Applied != nil && !*r.Applied {
			if r.Current == nil {
				return drivers.Result{}, errors.New("set-annotations answered without the current Notes (a script defect)")
			}
			current = *r.Current
			continue
		}
		c.mu.Lock()
		c.raw[op.VM] = *p.Notes
		if vm, ok := c.vms[op.VM]; ok {
			vm.Annotations = op.Params.Annotations
			c.vms[op.VM] = vm
		}
		c.mu.Unlock()
		return drivers.Result{Changed: r.Changed, Message: r.Message}, nil
	}
	return drivers.Result{}, drivers.Transient(errors.New("the VM's Notes keep changing while tlreconcile writes its block; retry when nobody edits them"))
}

// BuildRequest builds the script name and parameters for op. currentNotes is the VM's Notes as
// last seen (set-annotations merges into them). It is the single place where op values
// become script input, and they only ever become JSON fields.
func BuildRequest(ref drivers.ClusterRef, o *Options, op drivers.Op, currentNotes string) (string, *Payload, error) {
	p := op.Params
	if p == nil {
		p = &drivers.Params{}
	}
	script := string(op.Kind)
	switch op.Kind {
	case drivers.OpCreateVM:
		if err := validVMName(op.VM); err != nil {
			return "", nil, err
		}
		if p.TargetNode != "" && !containsFold(ref.Nodes, p.TargetNode) {
			return "", nil, fmt.Errorf("node/%s: %w in cluster %s: use one of %s", p.TargetNode, drivers.ErrNotFound, ref.Name, strings.Join(ref.Nodes, ", "))
		}
		gen := p.Generation
		if gen == 0 {
			gen = 2
		}
		sec := p.SecurityType
		if sec == "" {
			sec = drivers.SecurityTrustedLaunch
		}
		switch {
		case gen != 1 && gen != 2:
			return "", nil, fmt.Errorf("generation %d: Hyper-V VMs are Generation 1 or 2; use 2 for trusted launch: %w", gen, drivers.ErrInvalidArgument)
		case sec != drivers.SecurityTrustedLaunch && sec != drivers.SecurityStandard:
			return "", nil, fmt.Errorf("security type %q: use TrustedLaunch or Standard: %w", sec, drivers.ErrInvalidArgument)
		case gen == 1 && sec == drivers.SecurityTrustedLaunch:
			return "", nil, fmt.Errorf("trusted launch needs a Generation 2 VM: create it as Generation 2: %w", drivers.ErrPrecondition)
		}
		var src string
		var img *drivers.Image
		if p.Image != nil {
			var ok bool
			if src, ok = o.ImagePath(p.Image); !ok {
				return "", nil, fmt.Errorf("image %s/%s/%s/%s has no VHDX in the cluster's imageStore option: add one: %w", p.Image.Publisher, p.Image.Offer, p.Image.Sku, p.Image.Version, drivers.ErrPrecondition)
			}
			i := *p.Image
			img = &i
		}
		notes := RenderNotes("", p.Annotations)
		return script, &Payload{
			Name: op.VM, Generation: gen, Folder: folderName(op.VM), VMRoot: o.VMPath, SourceVHDX: src, Image: img,
			SecurityType: sec, Processors: p.Processors, MemoryBytes: p.MemoryMB << 20,
			Clustered: o.clustered(ref), Notes: &notes,
		}, nil
	case drivers.OpDeleteVM, drivers.OpStopVM, drivers.OpStartVM, drivers.OpEnableTPM, drivers.OpDisableTPM, drivers.OpRestrictFileAccess:
		return script, &Payload{VM: op.VM}, nil
	case drivers.OpSetSecureBoot:
		if p.SecureBoot == nil && p.SecureBootTemplate == "" {
			return "", nil, fmt.Errorf("set-secure-boot needs params.secure_boot or params.secure_boot_template: %w", drivers.ErrInvalidArgument)
		}
		switch p.SecureBootTemplate {
		case "", "MicrosoftWindows", "MicrosoftUEFICertificateAuthority", "OpenSourceShieldedVM":
		default:
			return "", nil, fmt.Errorf("secure boot template %q: use MicrosoftWindows, MicrosoftUEFICertificateAuthority or OpenSourceShieldedVM: %w", p.SecureBootTemplate, drivers.ErrInvalidArgument)
		}
		var on *bool
		if p.SecureBoot != nil {
			on = drivers.Bool(*p.SecureBoot)
		}
		return script, &Payload{VM: op.VM, Enabled: on, Template: p.SecureBootTemplate}, nil
	case drivers.OpEnsureKeyProtector:
		return script, &Payload{VM: op.VM, Reset: p.Reset}, nil
	case drivers.OpSetSecurity:
		if p.EncryptState == nil && p.VBSOptOut == nil {
			return "", nil, fmt.Errorf("set-security needs params.encrypt_state or params.vbs_opt_out: %w", drivers.ErrInvalidArgument)
		}
		return script, &Payload{VM: op.VM, EncryptState: p.EncryptState, VBSOptOut: p.VBSOptOut}, nil
	case drivers.OpSetProcessor:
		if p.Processors < 1 {
			return "", nil, fmt.Errorf("set-processor needs params.processors of at least 1: %w", drivers.ErrInvalidArgument)
		}
		return script, &Payload{VM: op.VM, Processors: p.Processors}, nil
	case drivers.OpSetMemory:
		if p.MemoryMB < 1 {
			return "", nil, fmt.Errorf("set-memory needs params.memory_mb of at least 1: %w", drivers.ErrInvalidArgument)
		}
		return script, &Payload{VM: op.VM, MemoryBytes: p.MemoryMB << 20}, nil
	case drivers.OpMoveVM:
		if p.TargetNode == "" || !containsFold(ref.Nodes, p.TargetNode) {
			return "", nil, fmt.Errorf("node/%s: %w in cluster %s; move-vm needs params.target_node", p.TargetNode, drivers.ErrNotFound, ref.Name)
		}
		switch p.MigrationType {
		case "", "Live", "Quick", "Shutdown":
		default:
			return "", nil, fmt.Errorf("migration type %q: use Live, Quick or Shutdown: %w", p.MigrationType, drivers.ErrInvalidArgument)
		}
		return script, &Payload{VM: op.VM, TargetNode: p.TargetNode, MigrationType: p.MigrationType}, nil
	case drivers.OpSetAnnotations:
		notes := MergeNotes(currentNotes, p.Annotations)
		expected := currentNotes
		return script, &Payload{VM: op.VM, Expected: &expected, Notes: &notes}, nil
	case drivers.OpStartIgvmAgent, drivers.OpEnableMigrationIPsec:
		return script, &Payload{}, nil
	}
	return "", nil, fmt.Errorf("op %q: %w by the hyperv driver", op.Kind, drivers.ErrNotSupported)
}

// validVMName refuses names that cannot be a Windows folder name, since create-vm stores
// the VM's files under a folder derived from it.
func validVMName(name string) error {
	bad := func() error {
		return fmt.Errorf("%w: VM name %q cannot be created on Hyper-V: use 1-100 characters without control characters, <>:\"/\\|?* or a trailing dot or space", drivers.ErrPrecondition, name)
	}
	if name == "" || len([]rune(name)) > 100 || strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return bad()
	}
	for _, r := range name {
		if unicode.IsControl(r) || strings.ContainsRune(`<>:"/\|?*`, r) {
			return bad()
		}
	}
	return nil
}

// folderName is a file-system-safe folder for a VM: its name with anything but letters,
// digits, '.', '-' and '_' replaced, plus a hash so that distinct names never collide.
func folderName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 48 {
			break
		}
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimLeft(b.String(), ".") + "-" + hex.EncodeToString(sum[:4])
}
