package azurelocal

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// armVM is one Azure Local VM as ARM has it: the Arc machine (tags) and its
// VM instance.
type armVM struct {
	m machine
	v vmInstance
}

// getConcurrency bounds the VM instance GETs of one observation.
const getConcurrency = 16

// Observe reads the cluster: ARM's Azure Local VMs (a paged list of the
// resource group's Arc machines, then each HCI machine's VM instance) and
// every node's facts (one observe-node per node), joined by VM ID.
func (d *Driver) Observe(ctx context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	c, err := d.connect(ctx, ref)
	if err != nil {
		return nil, err
	}
	var (
		wg      sync.WaitGroup
		vms     []armVM
		armErr  error
		reports map[string]*azlocal.NodeReport
	)
	wg.Add(1)
	go func() { defer wg.Done(); vms, armErr = c.armInventory(ctx) }()
	reports, nodeErr := c.nodeReports(ctx)
	wg.Wait()
	if armErr != nil {
		return nil, fmt.Errorf("cluster/%s: observe through ARM: %w", ref.Name, armErr)
	}
	if nodeErr != nil {
		return nil, fmt.Errorf("cluster/%s: observe the nodes: %w", ref.Name, nodeErr)
	}
	obs := c.join(vms, reports)
	if err := c.readIdentities(ctx, obs.VMs, stateKeys(reports)); err != nil {
		return nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
	}
	return obs, nil
}

// armInventory lists the resource group's HCI machines and reads their VM
// instances (through Resource Graph where it serves, graph.go). A machine
// without a VM instance (a create that stopped between the two), or whose VM
// instance has no VM on the cluster (its create ended Failed), is left out:
// the VM does not exist, and create-vm finishes it.
func (c *conn) armInventory(ctx context.Context) ([]armVM, error) {
	var machines []machine
	if _, err := c.arm.listMachines(ctx, func(m machine) error {
		if strings.EqualFold(m.Kind, kindHCI) {
			machines = append(machines, m)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return c.withInstances(ctx, machines)
}

// getInstances reads the VM instance of each machine with a GET,
// getConcurrency at a time (where Resource Graph does not serve, graph.go).
func (c *conn) getInstances(ctx context.Context, machines []machine) ([]armVM, error) {
	out := make([]armVM, len(machines))
	errs := make([]error, len(machines))
	sem := make(chan struct{}, getConcurrency)
	var wg sync.WaitGroup
	for i, m := range machines {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := c.arm.getVM(ctx, m.Name)
			out[i], errs[i] = armVM{m: m, v: v}, err
		}()
	}
	wg.Wait()
	kept := out[:0]
	for i := range out {
		switch {
		case errs[i] == nil && out[i].v.Properties.VMID != "":
			kept = append(kept, out[i])
		case errs[i] == nil:
		case isNotFound(errs[i]):
		default:
			return nil, fmt.Errorf("vm/%s: %w", machines[i].Name, errs[i])
		}
	}
	return kept, nil
}

// nodeReports runs observe-node on every node in parallel; a node that does
// not answer has no report (it is observed Down). When no node answers, the
// observation fails with why: that is a way in that does not work (SSH,
// credentials), not a cluster whose every node is down.
func (c *conn) nodeReports(ctx context.Context) (map[string]*azlocal.NodeReport, error) {
	return c.nodeReportsWith(ctx, azlocal.ObserveParams{Infrastructure: c.infrastructure(), BackupRoot: c.ref.KeyBackupRoot})
}

// vmReports are the nodes' reports narrowed to the VM with vmID: what an op
// on one VM needs (its owner's view, the node's agents), without every VM's
// firmware and state-file ACLs read on every node for each op.
func (c *conn) vmReports(ctx context.Context, vmID string) (map[string]*azlocal.NodeReport, error) {
	return c.nodeReportsWith(ctx, azlocal.ObserveParams{Infrastructure: c.infrastructure(), VMID: vmID})
}

func (c *conn) nodeReportsWith(ctx context.Context, params azlocal.ObserveParams) (map[string]*azlocal.NodeReport, error) {
	var mu sync.Mutex
	var errs []error
	out := map[string]*azlocal.NodeReport{}
	var wg sync.WaitGroup
	for name, s := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r azlocal.NodeReport
			if err := s.Run(ctx, azlocal.ScriptObserveNode, params, &r); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("node/%s: %w", name, err))
				mu.Unlock()
				return
			}
			mu.Lock()
			out[name] = &r
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(out) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("no node answered: %w", errors.Join(errs...))
	}
	return out, nil
}

// join builds the observation: nodes from their reports (and the cluster's
// view of them), ARM's VMs with the facts of the node that owns each, and
// the VMs only the nodes know (local tools, the resource bridge) as
// unmanaged.
func (c *conn) join(vms []armVM, reports map[string]*azlocal.NodeReport) *drivers.Observed {
	obs := &drivers.Observed{Cluster: c.ref.Name, Driver: Name, ObservedAt: time.Now().UTC(), Profile: drivers.AzureLocal()}
	obs.Nodes = c.observedNodes(reports)
	obs.KeyBackup = newestBackup(reports)
	byID := map[string]nodeVM{}
	for node, r := range reports {
		for i := range r.VMs {
			byID[strings.ToLower(r.VMs[i].VMID)] = nodeVM{node: node, vm: &r.VMs[i]}
		}
	}
	names := map[string]bool{}
	for _, a := range vms {
		id := strings.ToLower(a.v.Properties.VMID)
		nv := byID[id]
		delete(byID, id)
		obs.VMs = append(obs.VMs, c.observedVM(a, nv))
		names[a.m.Name] = true
	}
	for _, nv := range byID {
		if names[nv.vm.Name] {
			continue // a local VM with an Azure VM's name: the Azure one is the one declared
		}
		names[nv.vm.Name] = true
		obs.VMs = append(obs.VMs, c.localVM(nv))
	}
	sort.Slice(obs.VMs, func(i, j int) bool { return obs.VMs[i].Name < obs.VMs[j].Name })
	return obs
}

// nodeVM is a VM as one node's Get-VM reported it.
type nodeVM struct {
	node string
	vm   *azlocal.VMReport
}

// observedNodes: every declared node; one without a report is Down.
func (c *conn) observedNodes(reports map[string]*azlocal.NodeReport) []drivers.Node {
	states := map[string]string{}
	for _, r := range reports {
		if r.Cluster != nil {
			for _, n := range r.Cluster.Nodes {
				states[strings.ToLower(n.Name)] = n.State
			}
		}
	}
	out := make([]drivers.Node, 0, len(c.ref.Nodes))
	for _, name := range c.ref.Nodes {
		n := drivers.Node{Name: name, State: drivers.NodeDown, IgvmAgent: drivers.AgentAbsent}
		if r, ok := reports[name]; ok {
			n.State = nodeState(states[strings.ToLower(name)])
			n.IgvmAgent = agentState(r.Agents, azlocal.AgentIGVm)
			n.NodeAgent = agentState(r.Agents, azlocal.AgentNode)
			n.MigrationIPsec = r.LiveMigration.Encrypted()
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func nodeState(s string) drivers.NodeState {
	switch s {
	case "Up", "":
		return drivers.NodeUp
	case "Paused":
		return drivers.NodePaused
	}
	return drivers.NodeDown
}

func agentState(agents []azlocal.AgentReport, name string) drivers.AgentState {
	for _, a := range agents {
		if strings.EqualFold(a.Name, name) {
			switch a.Status {
			case azlocal.AgentRunning:
				return drivers.AgentRunning
			case azlocal.AgentStopped:
				return drivers.AgentStopped
			}
		}
	}
	return drivers.AgentAbsent
}

// newestBackup is the newest complete key backup any node reported (they
// share the destination, a cluster volume); folders are yyyyMMddHHmmss UTC.
func newestBackup(reports map[string]*azlocal.NodeReport) *drivers.KeyBackup {
	var best *azlocal.BackupReport
	for _, r := range reports {
		for i := range r.Backups {
			if b := &r.Backups[i]; best == nil || b.Folder > best.Folder {
				best = b
			}
		}
	}
	if best == nil {
		return nil
	}
	t, err := time.Parse("20060102150405", best.Folder)
	if err != nil {
		return nil // not a Backup-TVMKeys folder
	}
	return &drivers.KeyBackup{Folder: best.Folder, Time: t.UTC(), Keys: append([]string(nil), best.Keys...)}
}
