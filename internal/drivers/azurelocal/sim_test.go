package azurelocal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// simPlatform is the simulated Azure Local with the driver on it: ARM over
// HTTPS on loopback (every resource call checked against the spec), the
// nodes over the psnode protocol, the cluster model behind both.
type simPlatform struct {
	t    *testing.T
	host *cluster.Host
	d    *Driver
	ref  drivers.ClusterRef
}

const simClusterName = "sim-cluster"

func newSimPlatform(t *testing.T) *simPlatform {
	t.Helper()
	st := startSimStack(t, "", nil)
	ep := st.endpoint(st.checked(t))
	ep.GuestIdentity = true
	ep.Retry, ep.PollFrequency = policy.RetryOptions{MaxRetries: 3, RetryDelay: 5 * time.Millisecond}, 10*time.Millisecond
	ep = withLogicalNetwork(t, ep)
	d := New(func(context.Context, drivers.ClusterRef) (Endpoint, error) { return ep, nil })
	t.Cleanup(func() { _ = d.Close() })
	return &simPlatform{t: t, host: st.host, d: d, ref: drivers.ClusterRef{Name: simClusterName, Driver: Name, Nodes: []string{"node1", "node2"}}}
}

func (p *simPlatform) apply(op drivers.Op) drivers.Result {
	p.t.Helper()
	op.Cluster = p.ref.Name
	r, err := p.d.Apply(context.Background(), p.ref, op)
	if err != nil {
		p.t.Fatalf("%s %s: %v", op.Kind, op.Target(), err)
	}
	return r
}

func (p *simPlatform) observe() map[string]drivers.VM {
	p.t.Helper()
	obs, err := p.d.Observe(context.Background(), p.ref)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string]drivers.VM{}
	for _, v := range obs.VMs {
		out[v.Name] = v
	}
	return out
}

func tlCreate(name string) drivers.Op {
	return drivers.Op{Kind: drivers.OpCreateVM, VM: name, Params: &drivers.Params{
		Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: drivers.Bool(true), VTPM: drivers.Bool(true),
		Image:      &drivers.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"},
		Processors: 2, MemoryMB: 4096,
		Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab12"},
	}}
}

// TestDriverOnSimulatedAzureLocal walks a trusted-launch VM's life through
// the driver against the simulated platform: every change is seen by the
// next Observe as the platform has it.
func TestDriverOnSimulatedAzureLocal(t *testing.T) {
	p := newSimPlatform(t)
	ctx := context.Background()
	if r := p.apply(tlCreate("avd-01")); !r.Changed {
		t.Fatalf("create: %+v", r)
	}
	if r := p.apply(tlCreate("avd-01")); r.Changed {
		t.Fatalf("a second create changed something: %+v", r)
	}
	vm := p.observe()["avd-01"]
	if vm.SecurityType != drivers.SecurityTrustedLaunch || !vm.TPMEnabled || !vm.SecureBoot || vm.Power != drivers.PowerRunning ||
		vm.Node == "" || vm.ID == "" || vm.FileAccess != drivers.FileAccessHostAdminsOnly || vm.Annotations == nil || vm.Annotations.SpecHash != "ab12" {
		t.Fatalf("observed after create: %+v (annotations %+v)", vm, vm.Annotations)
	}

	id1 := vm.VTPMIdentity
	if st, err := p.host.Observe(ctx, simClusterName, cluster.ObserveOptions{Identities: true}); err != nil || !hasIdentity(st, vm.ID, id1) || id1 == "" {
		t.Fatalf("the identity read in the guest (%q) is not the vTPM's: %v", id1, err)
	}

	p.apply(drivers.Op{Kind: drivers.OpStopVM, VM: "avd-01"})
	p.apply(drivers.Op{Kind: drivers.OpSetHardware, VM: "avd-01", Params: &drivers.Params{Processors: 4, MemoryMB: 8192}})
	p.apply(drivers.Op{Kind: drivers.OpStartVM, VM: "avd-01"})
	if vm = p.observe()["avd-01"]; vm.Processors != 4 || vm.MemoryMB != 8192 || vm.Power != drivers.PowerRunning {
		t.Fatalf("after set-hardware: %+v", vm)
	}

	other := "node2"
	if vm.Node == "node2" {
		other = "node1"
	}
	p.apply(drivers.Op{Kind: drivers.OpMoveVM, VM: "avd-01", Params: &drivers.Params{TargetNode: other}})
	if vm = p.observe()["avd-01"]; vm.Node != other || vm.VTPMIdentity != id1 {
		t.Fatalf("after a live migration to %s: on %s, identity %s (was %s)", other, vm.Node, vm.VTPMIdentity, id1)
	}

	if err := p.host.DisableSecureBoot(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if got := p.observe()["avd-01"]; got.SecureBoot {
		t.Fatal("Secure Boot switched off on the node is not observed")
	}
	p.apply(drivers.Op{Kind: drivers.OpStopVM, VM: "avd-01"})
	p.apply(drivers.Op{Kind: drivers.OpSetSecureBoot, VM: "avd-01", Params: &drivers.Params{SecureBoot: drivers.Bool(true)}})
	p.apply(drivers.Op{Kind: drivers.OpStartVM, VM: "avd-01"})
	if got := p.observe()["avd-01"]; !got.SecureBoot {
		t.Fatal("set-secure-boot did not switch it back on")
	}

	if err := p.host.GrantStateFileAccess(ctx, vm.ID, cluster.PrincipalAllVMs); err != nil {
		t.Fatal(err)
	}
	if got := p.observe()["avd-01"]; got.FileAccess != drivers.FileAccessViolation {
		t.Fatalf("file access after the grant: %s", got.FileAccess)
	}
	p.apply(drivers.Op{Kind: drivers.OpRestrictFileAccess, VM: "avd-01"})
	if got := p.observe()["avd-01"]; got.FileAccess != drivers.FileAccessHostAdminsOnly {
		t.Fatalf("file access after restrict: %s", got.FileAccess)
	}

	a := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "cd34", Protect: true, Node: other}
	p.apply(drivers.Op{Kind: drivers.OpSetAnnotations, VM: "avd-01", Params: &drivers.Params{Annotations: a}})
	if got := p.observe()["avd-01"]; got.Annotations == nil || *got.Annotations != *a {
		t.Fatalf("annotations: %+v", got.Annotations)
	}

	p.apply(drivers.Op{Kind: drivers.OpDeleteVM, VM: "avd-01"})
	if _, ok := p.observe()["avd-01"]; ok {
		t.Fatal("the VM is still observed after delete-vm")
	}
	if st, err := p.host.Observe(ctx, simClusterName, cluster.ObserveOptions{}); err != nil || len(st.VMs) != 1 {
		t.Fatalf("the cluster after delete holds %d VMs (want only the resource bridge): %v", len(st.VMs), err)
	}
}

// TestDriverNodesAndUnmanaged: agents and live-migration encryption through
// the node ops; a VM made with local tools and the resource bridge are
// observed, never managed, and every op on them is refused.
func TestDriverNodesAndUnmanaged(t *testing.T) {
	p := newSimPlatform(t)
	ctx := context.Background()
	if err := p.host.SetAgent(ctx, simClusterName, "node2", cluster.AgentIGVm, cluster.AgentStopped); err != nil {
		t.Fatal(err)
	}
	obs, err := p.d.Observe(ctx, p.ref)
	if err != nil {
		t.Fatal(err)
	}
	if n := obs.Nodes[1]; n.Name != "node2" || n.IgvmAgent != drivers.AgentStopped || n.NodeAgent != drivers.AgentRunning || n.MigrationIPsec {
		t.Fatalf("node2: %+v", n)
	}
	p.apply(drivers.Op{Kind: drivers.OpStartIgvmAgent, Node: "node2"})
	for _, n := range []string{"node1", "node2"} {
		p.apply(drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Node: n})
	}
	if obs, _ = p.d.Observe(ctx, p.ref); obs.Nodes[1].IgvmAgent != drivers.AgentRunning || !obs.Nodes[0].MigrationIPsec || !obs.Nodes[1].MigrationIPsec {
		t.Fatalf("nodes after start-igvm-agent and encryption: %+v", obs.Nodes)
	}

	if _, err := p.host.CreateLocalVM(ctx, simClusterName, "node1", "legacy"); err != nil {
		t.Fatal(err)
	}
	vms := p.observe()
	bridge := vms[simClusterName+"-arcbridge"]
	if legacy := vms["legacy"]; legacy.Annotations != nil || legacy.Infrastructure || legacy.Node != "node1" {
		t.Fatalf("local VM: %+v", legacy)
	}
	if !bridge.Infrastructure || bridge.Annotations != nil {
		t.Fatalf("resource bridge: %+v", bridge)
	}
	for _, op := range []drivers.Op{
		{Kind: drivers.OpDeleteVM, VM: bridge.Name}, {Kind: drivers.OpStopVM, VM: bridge.Name},
		{Kind: drivers.OpRestrictFileAccess, VM: "legacy"}, {Kind: drivers.OpStartVM, VM: "legacy"},
		{Kind: drivers.OpEnsureKeyProtector, VM: "legacy"},
	} {
		op.Cluster = p.ref.Name
		if _, err := p.d.Apply(ctx, p.ref, op); err == nil {
			t.Errorf("%s on %s was carried out", op.Kind, op.VM)
		} else if !errors.Is(err, drivers.ErrPrecondition) && !errors.Is(err, drivers.ErrNotFound) && !errors.Is(err, drivers.ErrNotSupported) {
			t.Errorf("%s on %s: %v", op.Kind, op.VM, err)
		}
	}
	// ARM has no VM named legacy: deleting "it" deletes nothing.
	if r := p.apply(drivers.Op{Kind: drivers.OpDeleteVM, VM: "legacy"}); r.Changed {
		t.Errorf("delete-vm of a local VM's name changed something: %+v", r)
	}
	if st, _ := p.host.Observe(ctx, simClusterName, cluster.ObserveOptions{}); len(st.VMs) != 2 {
		t.Fatalf("the cluster holds %d VMs, want the bridge and the local VM", len(st.VMs))
	}
}

func hasIdentity(st cluster.ClusterState, vmID, id string) bool {
	for _, v := range st.VMs {
		if v.VMID == vmID {
			return v.Identity == id
		}
	}
	return false
}

// TestDriverSeesALostVTPM: a failover without the guest state key (the VM
// starts on a node of a system that lacks it) gives the vTPM a new identity,
// and the next Observe reads it from the guest; with the key it is kept.
func TestDriverSeesALostVTPM(t *testing.T) {
	p := newSimPlatform(t)
	ctx := context.Background()
	p.apply(tlCreate("avd-02"))
	before := p.observe()["avd-02"]
	other := map[string]string{"node1": "node2", "node2": "node1"}[before.Node]
	if err := p.host.MoveVM(ctx, before.ID, cluster.Target{Node: other}, true); err != nil {
		t.Fatal(err)
	}
	if kept := p.observe()["avd-02"]; kept.VTPMIdentity != before.VTPMIdentity || kept.Node != other {
		t.Fatalf("failover with the key: %s on %s, want %s on %s", kept.VTPMIdentity, kept.Node, before.VTPMIdentity, other)
	}
	if err := p.host.MoveVM(ctx, before.ID, cluster.Target{Node: before.Node}, false); err != nil {
		t.Fatal(err)
	}
	lost := p.observe()["avd-02"]
	if lost.VTPMIdentity == "" || lost.VTPMIdentity == before.VTPMIdentity {
		t.Fatalf("failover without the key: identity %q, want a new one (was %s)", lost.VTPMIdentity, before.VTPMIdentity)
	}
}

// TestDriverHonoursPlacement: ARM places a new VM itself; a declared
// placement.node is honoured by a live migration right after the create.
func TestDriverHonoursPlacement(t *testing.T) {
	p := newSimPlatform(t)
	for _, node := range []string{"node1", "node2"} {
		op := tlCreate("placed-" + node)
		op.Params.TargetNode = node
		p.apply(op)
	}
	vms := p.observe()
	for _, node := range []string{"node1", "node2"} {
		if got := vms["placed-"+node].Node; got != node {
			t.Errorf("placed-%s is on %s", node, got)
		}
	}
}

// TestDeleteFinishesAHalfCreate: an Arc machine whose VM instance was never
// made (an interrupted create) is deleted with its NIC by delete-vm.
func TestDeleteFinishesAHalfCreate(t *testing.T) {
	p := newSimPlatform(t)
	ctx := context.Background()
	c, err := p.d.connect(ctx, p.ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ensureNIC(ctx, "half", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.arm.putMachine(ctx, "half", map[string]string{tagManagedBy: drivers.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	if r := p.apply(drivers.Op{Kind: drivers.OpDeleteVM, VM: "half"}); !r.Changed {
		t.Fatalf("delete of a half-made VM: %+v", r)
	}
	if _, err := c.arm.getMachine(ctx, "half"); !isNotFound(err) {
		t.Errorf("machine left: %v", err)
	}
	if _, err := c.arm.getNIC(ctx, nicName("half")); !isNotFound(err) {
		t.Errorf("NIC left: %v", err)
	}
}
