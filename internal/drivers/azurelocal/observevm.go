package azurelocal

import (
	"context"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

var _ drivers.VMObserver = (*Driver)(nil)

// ObserveVM reads one VM as Observe would, for apply's verification after a
// VM's steps: its Arc machine and VM instance with two GETs (straight from
// ARM, never from Resource Graph's index, which may trail a change just
// made), the nodes' reports (one observe-node per node, narrowed to it), and its vTPM
// identity read from the guest every time (never reused: verification is
// what checks that the identity survived). Without it apply would run a
// whole-cluster Observe per VM verified. A VM only the nodes know (made with
// local tools, the resource bridge) is found by name in the reports.
func (d *Driver) ObserveVM(ctx context.Context, ref drivers.ClusterRef, name string) (*drivers.VM, error) {
	c, err := d.connect(ctx, ref)
	if err != nil {
		return nil, err
	}
	a, found, err := c.armVM(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("vm/%s: %w", name, err)
	}
	var reports map[string]*azlocal.NodeReport
	if found && a.v.Properties.VMID != "" {
		reports, err = c.vmReports(ctx, a.v.Properties.VMID)
	} else {
		reports, err = c.nodeReports(ctx) // a VM only the nodes know is found by name
	}
	if err != nil {
		return nil, fmt.Errorf("cluster/%s: observe the nodes: %w", ref.Name, err)
	}
	if !found {
		if nv, ok := nodeVMNamed(reports, name); ok {
			vm := c.localVM(nv)
			return &vm, nil
		}
		return nil, fmt.Errorf("vm/%s: %w in cluster %s", name, drivers.ErrNotFound, ref.Name)
	}
	keys := stateKeys(reports)
	id := strings.ToLower(a.v.Properties.VMID)
	nv, _ := nodeVMWithID(reports, id)
	vm := c.observedVM(a, nv)
	if !c.ep.GuestIdentity || vm.Annotations == nil || vm.Infrastructure || !vm.TPMEnabled || vm.Power != drivers.PowerRunning {
		return &vm, nil
	}
	ident, err := c.arm.guestIdentity(ctx, name)
	if err != nil {
		return nil, err
	}
	vm.VTPMIdentity, vm.VTPMInitialized = ident, vm.VTPMInitialized || ident != ""
	key := keys[id]
	key.Power = vm.Power
	c.perf.remember(id, identityRecord{key: key, identity: ident})
	return &vm, nil
}

// armVM reads the VM's machine and instance; found is false when ARM has no
// Azure Local VM of that name (no machine, not of kind HCI, or no instance).
func (c *conn) armVM(ctx context.Context, name string) (armVM, bool, error) {
	m, err := c.arm.getMachine(ctx, name)
	if isNotFound(err) {
		return armVM{}, false, nil
	}
	if err != nil {
		return armVM{}, false, err
	}
	if !strings.EqualFold(m.Kind, kindHCI) {
		return armVM{}, false, nil
	}
	v, err := c.arm.getVM(ctx, name)
	if isNotFound(err) {
		return armVM{}, false, nil
	}
	return armVM{m: m, v: v}, err == nil, err
}

func nodeVMWithID(reports map[string]*azlocal.NodeReport, id string) (nodeVM, bool) {
	for node, r := range reports {
		for i := range r.VMs {
			if strings.EqualFold(r.VMs[i].VMID, id) {
				return nodeVM{node: node, vm: &r.VMs[i]}, true
			}
		}
	}
	return nodeVM{}, false
}

func nodeVMNamed(reports map[string]*azlocal.NodeReport, name string) (nodeVM, bool) {
	for node, r := range reports {
		for i := range r.VMs {
			if r.VMs[i].Name == name {
				return nodeVM{node: node, vm: &r.VMs[i]}, true
			}
		}
	}
	return nodeVM{}, false
}
