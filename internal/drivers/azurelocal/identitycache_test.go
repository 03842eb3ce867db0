package azurelocal

import (
	"context"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/sim/node"
)

func TestKnownIdentity(t *testing.T) {
	const idA, idB = "aa", "bb"
	here := stateKey{Node: "node1", Power: drivers.PowerRunning, StateFile: "d|f.vmgs", Key: keyPresent}
	moved, keyGone, newFile, stopped := here, here, here, here
	moved.Node, keyGone.Key, newFile.StateFile, stopped.Power = "node2", keyAbsent, "d|f2.vmgs", drivers.PowerOff
	noVault := here
	noVault.Key = keyUnknown
	tagged := func(id, node string) *drivers.VM {
		return &drivers.VM{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, VTPMIdentity: id, Node: node}}
	}
	read := identityRecord{key: here, identity: idA}
	for _, tc := range []struct {
		name       string
		vm         *drivers.VM
		key        stateKey
		readBefore bool
		want       string
		known      bool
	}{
		{"read before, nothing changed", tagged(idB, "node1"), here, true, idA, true},
		{"read before, moved", tagged(idA, "node1"), moved, true, "", false},
		{"read before, key gone", tagged(idA, "node1"), keyGone, true, "", false},
		{"read before, new state file", tagged(idA, "node1"), newFile, true, "", false},
		{"read before, stopped and started since", tagged(idA, "node1"), stopped, true, "", false},
		{"fresh, tags record it on this node", tagged(idB, "node1"), here, false, idB, true},
		{"fresh, tags name another node", tagged(idB, "node2"), here, false, "", false},
		{"fresh, no identity in the tags", tagged("", "node1"), here, false, "", false},
		{"fresh, no node in the tags", tagged(idB, ""), here, false, "", false},
		{"fresh, key not in the vault", tagged(idB, "node1"), keyGone, false, "", false},
		{"fresh, vault unreadable", tagged(idB, "node1"), noVault, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last := identityRecord{}
			if tc.readBefore {
				last = read
			}
			got, ok := knownIdentity(tc.vm, tc.key, last, tc.readBefore, true)
			if ok != tc.known || (ok && got != tc.want) {
				t.Fatalf("knownIdentity = %q, %v; want %q, %v", got, ok, tc.want, tc.known)
			}
		})
	}
}

// runCommands is how many identity reads (Run Command PUTs) one Observe on
// d sent, and what it observed.
func (p *perfPlatform) identityReads(d *Driver) (int, map[string]drivers.VM) {
	p.t.Helper()
	p.count.reset()
	vms := observeOn(p.t, d, p.ref)
	return p.requests(shapeRunCmd), vms
}

// TestIdentityReadOnlyWhereItCanChange: a connection that read the
// identities reads again only those of VMs whose node, power, state file or
// key changed, and so still sees a failover without the key (a lost vTPM).
func TestIdentityReadOnlyWhereItCanChange(t *testing.T) {
	p := newPerfPlatform(t, nil)
	ctx := context.Background()
	for _, n := range []string{"avd-a", "avd-b", "avd-c"} {
		p.apply(tlCreate(n))
	}
	n, first := p.identityReads(p.d)
	if n != 3 {
		t.Fatalf("first observe read %d identities, want 3", n)
	}
	n, again := p.identityReads(p.d)
	if n != 0 {
		t.Fatalf("second observe read %d identities, want 0", n)
	}
	for name, v := range first {
		if again[name].VTPMIdentity != v.VTPMIdentity {
			t.Fatalf("%s: identity %q, was %q", name, again[name].VTPMIdentity, v.VTPMIdentity)
		}
	}
	a := first["avd-a"]
	other := map[string]string{"node1": "node2", "node2": "node1"}[a.Node]
	if err := p.host.MoveVM(ctx, a.ID, cluster.Target{Node: other}, true); err != nil {
		t.Fatal(err)
	}
	if n, vms := p.identityReads(p.d); n != 1 || vms["avd-a"].VTPMIdentity != a.VTPMIdentity || vms["avd-a"].Node != other {
		t.Fatalf("after a live migration: %d reads, %+v", n, vms["avd-a"])
	}
	if err := p.host.MoveVM(ctx, a.ID, cluster.Target{Node: a.Node}, false); err != nil {
		t.Fatal(err)
	}
	if n, vms := p.identityReads(p.d); n != 1 || vms["avd-a"].VTPMIdentity == "" || vms["avd-a"].VTPMIdentity == a.VTPMIdentity {
		t.Fatalf("after a failover without the key: %d reads, identity %q (was %s)", n, vms["avd-a"].VTPMIdentity, a.VTPMIdentity)
	}
	b := first["avd-b"]
	if err := p.host.DeleteKey(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	// The VM runs on; its state cannot be opened without the key, so the
	// guest cannot say (unknown, never a different identity).
	if n, vms := p.identityReads(p.d); n != 1 || (vms["avd-b"].VTPMIdentity != "" && vms["avd-b"].VTPMIdentity != b.VTPMIdentity) {
		t.Fatalf("after the key was deleted: %d reads, identity %q (was %s)", n, vms["avd-b"].VTPMIdentity, b.VTPMIdentity)
	}
	p.apply(drivers.Op{Kind: drivers.OpStopVM, VM: "avd-b"})
	p.apply(drivers.Op{Kind: drivers.OpStartVM, VM: "avd-b"}) // boots without its key: a new key, a new vTPM
	if n, vms := p.identityReads(p.d); n != 1 || vms["avd-b"].VTPMIdentity == "" || vms["avd-b"].VTPMIdentity == b.VTPMIdentity {
		t.Fatalf("after a stop and start without the key: %d reads, identity %q (was %s)", n, vms["avd-b"].VTPMIdentity, b.VTPMIdentity)
	}
}

// TestIdentityFreshDriverTrustsOnlyMatchingTags: a fresh driver reuses the
// identity the tags record when the VM is on the node they name with its key
// in the vault, and reads it when the VM moved: a failover without the key
// is still seen as a new identity against the recorded one.
func TestIdentityFreshDriverTrustsOnlyMatchingTags(t *testing.T) {
	p := newPerfPlatform(t, nil)
	ctx := context.Background()
	p.apply(tlCreate("avd-a"))
	p.apply(tlCreate("avd-b"))
	if n, _ := p.identityReads(p.newDriver()); n != 2 {
		t.Fatalf("no identity in the tags: %d reads, want 2", n)
	}
	_, vms := p.identityReads(p.d)
	a := vms["avd-a"]
	p.apply(drivers.Op{Kind: drivers.OpSetAnnotations, VM: "avd-a", Params: &drivers.Params{Annotations: &drivers.Annotations{
		ManagedBy: drivers.ManagedBy, SpecHash: "ab12", VTPMIdentity: a.VTPMIdentity, Node: a.Node}}})
	n, got := p.identityReads(p.newDriver())
	if n != 1 || got["avd-a"].VTPMIdentity != a.VTPMIdentity {
		t.Fatalf("tags record avd-a's identity: %d reads (want 1, avd-b's), avd-a %q", n, got["avd-a"].VTPMIdentity)
	}
	other := map[string]string{"node1": "node2", "node2": "node1"}[a.Node]
	if err := p.host.MoveVM(ctx, a.ID, cluster.Target{Node: other}, false); err != nil {
		t.Fatal(err)
	}
	n, got = p.identityReads(p.newDriver())
	if lost := got["avd-a"]; n != 2 || lost.VTPMIdentity == "" || lost.VTPMIdentity == lost.Annotations.VTPMIdentity {
		t.Fatalf("after a failover without the key: %d reads, identity %q, recorded %q", n, lost.VTPMIdentity, lost.Annotations.VTPMIdentity)
	}
}

// TestIdentityAfterARestoreOntoAnotherSystem: a VM restored onto another
// system without its key boots there with a new vTPM; the driver of that
// system, fresh, reads its identity (the tags name a node of the old
// system) and so observes it against the recorded one.
func TestIdentityAfterARestoreOntoAnotherSystem(t *testing.T) {
	east := cluster.Spec{Name: "hci-east", CustomLocation: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sim/providers/Microsoft.ExtendedLocation/customLocations/hci-east", Nodes: []string{"n1"}}
	p := newPerfPlatformOf(t, nil, []cluster.Spec{
		{Name: simClusterName, CustomLocation: arm.DefaultCustomLocation, Nodes: []string{"node1", "node2"}}, east})
	ctx := context.Background()
	p.apply(tlCreate("avd-r"))
	_, vms := p.identityReads(p.d)
	v := vms["avd-r"]
	p.apply(drivers.Op{Kind: drivers.OpSetAnnotations, VM: "avd-r", Params: &drivers.Params{Annotations: &drivers.Annotations{
		ManagedBy: drivers.ManagedBy, SpecHash: "ab12", VTPMIdentity: v.VTPMIdentity, Node: v.Node}}})
	if err := p.host.MoveVM(ctx, v.ID, cluster.Target{Cluster: east.Name, Node: "n1"}, false); err != nil {
		t.Fatal(err)
	}
	ep := p.ep
	ep.Nodes, ep.CustomLocation, ep.Infrastructure = node.NewTransport(p.host, east.Name), east.CustomLocation, []string{east.Name + "-arcbridge"}
	d := New(func(context.Context, drivers.ClusterRef) (Endpoint, error) { return ep, nil })
	t.Cleanup(func() { _ = d.Close() })
	ref := drivers.ClusterRef{Name: east.Name, Driver: Name, Nodes: east.Nodes}
	p.count.reset()
	got := observeOn(t, d, ref)["avd-r"]
	if got.Node != "n1" || got.VTPMIdentity == "" || got.Annotations == nil || got.VTPMIdentity == got.Annotations.VTPMIdentity {
		t.Fatalf("after a restore without the key: on %q, identity %q, recorded %+v", got.Node, got.VTPMIdentity, got.Annotations)
	}
	if n := p.requests(shapeRunCmd); n != 1 {
		t.Fatalf("%d identity reads, want 1", n)
	}
}

// TestFreshDriverReadsEveryGuestByDefault: without TrustRecordedIdentities a
// fresh driver does not take the tags' identity, even when everything it
// sees matches: a reset on the same node since the record would be missed.
func TestFreshDriverReadsEveryGuestByDefault(t *testing.T) {
	v := &drivers.VM{Annotations: &drivers.Annotations{VTPMIdentity: strings.Repeat("a", 64), Node: "node1"}}
	if _, ok := knownIdentity(v, stateKey{Node: "node1", Key: keyPresent}, identityRecord{}, false, false); ok {
		t.Fatal("a fresh driver trusted the recorded identity by default")
	}
}
