package drivertest

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// testFreshInstance applies with instances that have observed nothing, each op
// on a new one: `tlreconcile apply PLANFILE` runs in another process than the
// plan that observed, so everything a driver needs must travel in the call
// (DESIGN §4). The first version's hyperv driver failed exactly here.
func testFreshInstance(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if e.wholeCreate() {
		freshWhole(e, h)
		return
	}
	n0, n1 := e.node(0), e.node(1)
	fresh := func(op drivers.Op) drivers.Result {
		t.Helper()
		d := h.Reopen(t, e.d)
		res, err := d.Apply(e.ctx, e.ref, op)
		if err != nil {
			t.Fatalf("%s %s on a fresh driver instance: %v", op.Kind, op.VM+op.Node, err)
		}
		if !res.Changed {
			t.Fatalf("%s %s on a fresh driver instance: Changed = false, want true", op.Kind, op.VM+op.Node)
		}
		return res
	}
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "fresh"}
	fresh(e.op(drivers.OpCreateVM, "fresh-01", &drivers.Params{
		Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 2, MemoryMB: 2048, TargetNode: n0, Annotations: ann,
	}))
	fresh(e.op(drivers.OpEnsureKeyProtector, "fresh-01", nil))
	fresh(e.op(drivers.OpEnableTPM, "fresh-01", nil))
	fresh(e.op(drivers.OpSetProcessor, "fresh-01", &drivers.Params{Processors: 4}))
	fresh(e.op(drivers.OpStartVM, "fresh-01", nil))
	fresh(e.op(drivers.OpMoveVM, "fresh-01", &drivers.Params{TargetNode: n1, MigrationType: "Live"}))
	final := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "fresh", Node: n1}
	fresh(e.op(drivers.OpSetAnnotations, "fresh-01", &drivers.Params{Annotations: final}))
	fresh(drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: e.ref.Name, Node: n0})

	got := e.vm("fresh-01")
	if got.Node != n1 || got.Power != drivers.PowerRunning || got.Processors != 4 || !got.TPMEnabled ||
		!isSHA256Hex(got.VTPMIdentity) || got.Annotations == nil || *got.Annotations != *final {
		t.Fatalf("after ops on fresh instances: %+v; want Running on %s, 4 processors, a vTPM with an identity, annotations %+v", got, n1, *final)
	}
	for _, n := range e.observe().Nodes {
		if n.Name == n0 && !n.MigrationIPsec {
			t.Errorf("node %s: enable-migration-ipsec on a fresh instance did not take", n0)
		}
	}
}
