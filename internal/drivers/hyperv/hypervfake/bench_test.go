package hypervfake_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
)

// populate creates perNode managed VMs on every node, directly on the sim behind the host;
// the first tpm of each node get a key protector and a vTPM.
func populate(tb testing.TB, host *hypervfake.Host, ref drivers.ClusterRef, perNode, tpm int) {
	tb.Helper()
	ctx := context.Background()
	for _, n := range ref.Nodes {
		for i := range perNode {
			name := fmt.Sprintf("%s-vm%03d", n, i)
			ops := []drivers.Op{{Kind: drivers.OpCreateVM, Cluster: ref.Name, VM: name, Params: &drivers.Params{
				Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 2, MemoryMB: 2048, TargetNode: n,
				Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "h0"},
			}}}
			if i < tpm {
				ops = append(ops, drivers.Op{Kind: drivers.OpEnsureKeyProtector, Cluster: ref.Name, VM: name}, drivers.Op{Kind: drivers.OpEnableTPM, Cluster: ref.Name, VM: name})
			}
			for _, op := range ops {
				if _, err := host.Sim().Apply(ctx, ref, op); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
}

// reconcileOps is a typical apply after a spec change: processors changed on a few Off VMs,
// annotations rewritten on more, one VM moved, the node-level fixes (idempotent here).
func reconcileOps(ref drivers.ClusterRef, round int) []drivers.Op {
	var ops []drivers.Op
	n0, n1 := ref.Nodes[0], ref.Nodes[1]
	for i := range 5 {
		ops = append(ops, drivers.Op{Kind: drivers.OpSetProcessor, Cluster: ref.Name, VM: fmt.Sprintf("%s-vm%03d", n0, i), Params: &drivers.Params{Processors: 2 + round%2*2}})
	}
	for i := range 10 {
		ops = append(ops, drivers.Op{Kind: drivers.OpSetAnnotations, Cluster: ref.Name, VM: fmt.Sprintf("%s-vm%03d", n1, i),
			Params: &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: fmt.Sprintf("h%d", round+1)}}})
	}
	from, to := n0, n1
	if round%2 == 1 {
		from, to = n1, n0
	}
	ops = append(ops,
		drivers.Op{Kind: drivers.OpMoveVM, Cluster: ref.Name, VM: fmt.Sprintf("%s-vm%03d", n0, 299%len(ref.Nodes)), Params: &drivers.Params{TargetNode: to}},
		drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: ref.Name, Node: from},
		drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: ref.Name, Node: to},
	)
	return ops
}

type passStats struct {
	starts, trips, observes int64
	perScript               map[string]int64
}

// reconcile is one run of tlreconcile: a fresh driver, one observation, the ops, close.
func reconcile(tb testing.TB, host *hypervfake.Host, ref drivers.ClusterRef, ops []drivers.Op) passStats {
	tb.Helper()
	ctx := context.Background()
	before := host.Counts()
	d, err := hyperv.New(drivers.Config{}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) { return host.Transport(), nil }))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.Observe(ctx, ref); err != nil {
		tb.Fatal(err)
	}
	for _, op := range ops {
		if _, err := d.Apply(ctx, ref, op); err != nil {
			tb.Fatalf("%s %s: %v", op.Kind, op.VM+op.Node, err)
		}
	}
	_ = d.Close()
	after := host.Counts()
	ps := passStats{starts: after.Starts - before.Starts, trips: after.RoundTrips - before.RoundTrips, perScript: map[string]int64{}}
	for k, v := range after.PerScript {
		ps.perScript[k] = v - before.PerScript[k]
	}
	ps.observes = ps.perScript[hyperv.ScriptObserve]
	return ps
}

// TestRoundTrips pins the batching contract on a small cluster: one PowerShell process and
// one observe script per node, and one round trip per op (two for a trusted-launch VM's move,
// which first checks the target node's IGVmAgent; one per node for enable-migration-ipsec,
// which reaches every node in one step).
func TestRoundTrips(t *testing.T) {
	ref := drivers.ClusterRef{Name: "rt", Driver: hyperv.Name, Nodes: []string{"node1", "node2", "node3"}}
	host, err := hypervfake.New(t.TempDir(), ref, hypervfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	populate(t, host, ref, 10, 3)
	ops := reconcileOps(ref, 0)
	ops[len(ops)-3].VM = "node1-vm001" // a vTPM VM
	ps := reconcile(t, host, ref, ops)
	want := int64(len(ref.Nodes)) + int64(len(ops)) + 1 + int64(len(ref.Nodes)-1)
	if ps.starts != 3 || ps.observes != 3 || ps.trips != want {
		t.Errorf("one reconcile: %d process starts, %d observe scripts, %d round trips (%v); want 3, 3, %d", ps.starts, ps.observes, ps.trips, ps.perScript, want)
	}
}

// BenchmarkReconcile3x300 is one reconcile of a 3-node cluster with 300 VMs per node.
func BenchmarkReconcile3x300(b *testing.B) {
	ref := drivers.ClusterRef{Name: "bench", Driver: hyperv.Name, Nodes: []string{"node1", "node2", "node3"}}
	host, err := hypervfake.New(b.TempDir(), ref, hypervfake.Options{})
	if err != nil {
		b.Fatal(err)
	}
	populate(b, host, ref, 300, 5)
	var last passStats
	var nops int
	round := 0
	b.ResetTimer()
	for b.Loop() {
		ops := reconcileOps(ref, round)
		nops = len(ops)
		last = reconcile(b, host, ref, ops)
		round++
		if last.starts > 3 || last.observes != 3 {
			b.Fatalf("reconcile started %d processes and sent %d observe scripts; want at most 3 and exactly 3", last.starts, last.observes)
		}
	}
	b.ReportMetric(float64(last.starts), "starts/reconcile")
	b.ReportMetric(float64(last.observes), "observe-scripts/reconcile")
	b.ReportMetric(float64(last.trips), "roundtrips/reconcile")
	b.ReportMetric(float64(last.trips-last.observes)/float64(nops), "roundtrips/op")
}
