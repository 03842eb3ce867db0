package apply_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// recDriver is a small in-memory cluster for ordering and guard tests that do
// not need a real TPM. It records every op in order and can fail ops on demand.
// The fault-injection acceptance tests use the real sim driver instead.
type recDriver struct {
	mu                  sync.Mutex
	vms                 map[string]*drivers.VM
	log                 []string
	fail                map[string]int  // "op" or "op vm" → remaining failures (-1: always)
	perm                map[string]bool // failures of that key are permanent, not transient
	ignore              map[string]bool // "op vm": succeed without doing anything (a setting that does not take)
	latency             time.Duration   // per op
	running, maxRunning int
}

func newRec(vms ...drivers.VM) *recDriver {
	d := &recDriver{vms: map[string]*drivers.VM{}, fail: map[string]int{}, perm: map[string]bool{}, ignore: map[string]bool{}}
	for i := range vms {
		vm := vms[i]
		d.vms[vm.Name] = &vm
	}
	return d
}

func (d *recDriver) Observe(_ context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := &drivers.Observed{Cluster: ref.Name, Driver: "rec"}
	for _, vm := range d.vms {
		o.VMs = append(o.VMs, *vm)
	}
	sort.Slice(o.VMs, func(i, j int) bool { return o.VMs[i].Name < o.VMs[j].Name })
	return o, nil
}

func (d *recDriver) ops() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.log, "\n")
}

func (d *recDriver) Apply(ctx context.Context, _ drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	d.mu.Lock()
	d.running++
	if d.running > d.maxRunning {
		d.maxRunning = d.running
	}
	lat := d.latency
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.running--; d.mu.Unlock() }()
	if lat > 0 {
		time.Sleep(lat)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	target := op.VM
	if target == "" {
		target = op.Node
	}
	d.log = append(d.log, string(op.Kind)+" "+target)
	for _, key := range []string{string(op.Kind) + " " + target, string(op.Kind)} {
		if n, ok := d.fail[key]; ok && n != 0 {
			if n > 0 {
				d.fail[key] = n - 1
			}
			err := fmt.Errorf("injected fault on %s: %w", key, drivers.ErrInvalidState)
			if d.perm[key] {
				return drivers.Result{}, err
			}
			return drivers.Result{}, drivers.Transient(err)
		}
	}
	if d.ignore[string(op.Kind)+" "+target] {
		return drivers.Result{Changed: true}, nil
	}
	if op.VM == "" {
		return drivers.Result{Changed: true}, nil
	}
	vm := d.vms[op.VM]
	if vm == nil && op.Kind != drivers.OpCreateVM {
		return drivers.Result{}, fmt.Errorf("vm %s: %w", op.VM, drivers.ErrNotFound)
	}
	p := op.Params
	if p == nil {
		p = &drivers.Params{}
	}
	switch op.Kind {
	case drivers.OpCreateVM:
		d.vms[op.VM] = &drivers.VM{Name: op.VM, Generation: 2, Power: drivers.PowerOff, Processors: p.Processors,
			SecurityType: p.SecurityType, VTPMIdentity: "id-" + op.VM + "-new", Node: p.TargetNode, Annotations: p.Annotations}
	case drivers.OpDeleteVM:
		delete(d.vms, op.VM)
	case drivers.OpStopVM:
		vm.Power = drivers.PowerOff
	case drivers.OpStartVM:
		vm.Power = drivers.PowerRunning
	case drivers.OpSetSecureBoot:
		if vm.Power != drivers.PowerOff {
			return drivers.Result{}, fmt.Errorf("vm %s: %w: the VM must be Off", op.VM, drivers.ErrInvalidState)
		}
		if p.SecureBoot != nil {
			vm.SecureBoot = *p.SecureBoot
		}
		vm.SecureBootTemplate = p.SecureBootTemplate
	case drivers.OpEnsureKeyProtector:
		vm.KeyProtector = true
		if p.Reset {
			vm.VTPMIdentity = "id-" + op.VM + "-reset"
		}
	case drivers.OpEnableTPM:
		vm.TPMEnabled = true
	case drivers.OpDisableTPM:
		vm.TPMEnabled = false
	case drivers.OpSetProcessor:
		vm.Processors = p.Processors
	case drivers.OpMoveVM:
		vm.Node = p.TargetNode
	case drivers.OpSetAnnotations:
		a := *p.Annotations
		vm.Annotations = &a
	}
	return drivers.Result{Changed: true}, nil
}

// updatePlan is the plan for turning Secure Boot and the vTPM on for each VM
// (running, identity "id-NAME"): stop → secure boot → key protector → TPM → start → annotations.
// resetPlan is updatePlan("name") with its key-protector step turned into an
// allowed, destructive reset: a new vTPM identity is expected and recorded.
func resetPlan(name string) *plan.Plan {
	p := updatePlan(name)
	p.Changes[0].Steps[2].Destructive = true
	p.Changes[0].Steps[2].Params = &drivers.Params{Reset: true}
	p.Changes[0].Expect.VTPMIdentity = ""
	p.Changes[0].Steps[5].Params.Annotations.VTPMIdentity = ""
	plan.Decide(&p.Changes[0])
	return p
}

func updatePlan(names ...string) *plan.Plan {
	p := &plan.Plan{FormatVersion: plan.FormatVersion, Clusters: []drivers.ClusterRef{{Name: "c1", Driver: "rec"}}}
	for _, n := range names {
		p.Changes = append(p.Changes, updateChange(n))
	}
	return p
}

// step is a step of vm's change, named as the planner names them
// ("vm/NAME/op"); id and deps are given without the "vm/NAME/" prefix.
// Destroying ops are marked destructive, as plan.Validate requires.
func step(id string, kind drivers.OpKind, vm string, deps ...string) plan.Step {
	full := make([]string, 0, len(deps))
	for _, d := range deps {
		full = append(full, "vm/"+vm+"/"+d)
	}
	s := plan.Step{ID: "vm/" + vm + "/" + id, Op: drivers.Op{Kind: kind, Cluster: "c1", VM: vm}, DependsOn: full}
	s.Destructive = s.Op.Destroys()
	return s
}

func updateChange(n string) plan.Change {
	sb := step("set-secure-boot", drivers.OpSetSecureBoot, n, "stop-vm")
	sb.Params = &drivers.Params{SecureBoot: drivers.Bool(true), SecureBootTemplate: "MicrosoftWindows"}
	ann := step("set-annotations", drivers.OpSetAnnotations, n, "start-vm")
	ann.Params = &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, VTPMIdentity: "id-" + n, Node: "node1"}}
	ch := plan.Change{
		Resource: "vm/" + n, Cluster: "c1", Action: plan.ActionUpdate,
		Steps: []plan.Step{
			step("stop-vm", drivers.OpStopVM, n),
			sb,
			step("ensure-key-protector", drivers.OpEnsureKeyProtector, n, "set-secure-boot"),
			step("enable-tpm", drivers.OpEnableTPM, n, "ensure-key-protector"),
			step("start-vm", drivers.OpStartVM, n, "enable-tpm"),
			ann,
		},
		Expect: &plan.Expect{Power: drivers.PowerRunning, SecureBoot: drivers.Bool(true), SecureBootTemplate: "MicrosoftWindows",
			TPMEnabled: drivers.Bool(true), VTPMIdentity: "id-" + n},
	}
	plan.Decide(&ch)
	return ch
}

func runningVM(n string) drivers.VM {
	return drivers.VM{Name: n, Generation: 2, Power: drivers.PowerRunning, Node: "node1", SecurityType: "TrustedLaunch",
		VTPMIdentity: "id-" + n, Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, VTPMIdentity: "id-" + n, Node: "node1"}}
}

func (d *recDriver) ObserveVM(_ context.Context, _ drivers.ClusterRef, name string) (*drivers.VM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	vm, ok := d.vms[name]
	if !ok {
		return nil, fmt.Errorf("vm/%s: %w", name, drivers.ErrNotFound)
	}
	c := *vm
	return &c, nil
}
