package drivertest

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The scenarios of the platform incidents that happen between a plan and
// its apply, behind tlreconcile's back. Each needs a Harness hook; a nil
// hook skips it.

// testDeletedOutOfBand: a VM deleted behind tlreconcile's back after the
// plan observed it (Azure Local: in the portal) makes every later op on it
// ErrNotFound (a delete may also be an unchanged no-op), on this instance
// and on a fresh one, and the next Observe no longer reports it.
func testDeletedOutOfBand(t *testing.T, h Harness) {
	if h.DeleteOutOfBand == nil {
		t.Skip("harness has no DeleteOutOfBand hook")
	}
	e := newEnv(t, h)
	n0 := e.node(0)
	e.createTL("gone", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "gone", nil))
	e.createTL("stays", n0)
	e.vm("gone") // what the plan saw
	h.DeleteOutOfBand(t, e.d, e.ref, "gone")

	ops := []drivers.Op{
		e.op(drivers.OpStopVM, "gone", nil),
		e.op(drivers.OpStartVM, "gone", nil),
		e.op(drivers.OpMoveVM, "gone", &drivers.Params{TargetNode: e.node(1)}),
		e.op(drivers.OpSetAnnotations, "gone", &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("gone")}}),
		e.op(drivers.OpSetSecureBoot, "gone", &drivers.Params{SecureBoot: drivers.Bool(true)}),
		e.op(drivers.OpRestrictFileAccess, "gone", nil),
		e.op(drivers.OpDeleteVM, "gone", nil),
	}
	for _, inst := range []struct {
		name string
		d    drivers.Driver
	}{{"same instance", e.d}, {"fresh instance", h.Reopen(t, e.d)}} {
		for _, op := range ops {
			if !e.prof.Has(op.Kind) {
				continue
			}
			t.Run(inst.name+"/"+string(op.Kind), func(t *testing.T) {
				res, err := inst.d.Apply(e.ctx, e.ref, op)
				if op.Kind == drivers.OpDeleteVM && err == nil && !res.Changed {
					return
				}
				wantErr(t, string(op.Kind)+" of a VM deleted out of band", err, drivers.ErrNotFound, "vm/gone")
			})
		}
	}
	obs := e.observe()
	for _, v := range obs.VMs {
		if v.Name == "gone" {
			t.Errorf("a VM deleted out of band is still observed: %+v", v)
		}
	}
	if len(tenants(obs)) != 1 {
		t.Errorf("observed %v, want only the VM stays besides the platform's own", names(obs.VMs))
	}
}

// testAnnotationsEditedByHand: a record edited by hand into values
// tlreconcile never writes is not trusted: the VM stays managed, protected
// (nothing destructive is planned until it is fixed) and without a recorded
// identity; ops still work on it, and set-annotations writes it whole again.
func testAnnotationsEditedByHand(t *testing.T, h Harness) {
	if h.TamperAnnotations == nil {
		t.Skip("harness has no TamperAnnotations hook")
	}
	e := newEnv(t, h)
	n0 := e.node(0)
	e.createTL("edited", n0)
	good := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("edited"), VTPMIdentity: specHash("ek"), Node: n0}
	e.applyChanged(e.op(drivers.OpSetAnnotations, "edited", &drivers.Params{Annotations: good}))
	h.TamperAnnotations(t, e.d, e.ref, "edited")

	v := e.vm("edited")
	if a := v.Annotations; a == nil || a.ManagedBy != drivers.ManagedBy || !a.Protect || a.VTPMIdentity != "" {
		t.Fatalf("after the record was edited by hand: annotations %+v; want managed, protected, no recorded identity", deref(a))
	}
	e.applyChanged(e.op(drivers.OpStartVM, "edited", nil))
	e.applyChanged(e.op(drivers.OpSetAnnotations, "edited", &drivers.Params{Annotations: good}))
	if got := e.vm("edited").Annotations; got == nil || *got != *good {
		t.Fatalf("set-annotations after the edit: %+v, want %+v", deref(got), *good)
	}
}

// testAgentStopsBeforeApply: IgvmAgent stops on a node after the plan saw
// it running. Apply, on this instance or a fresh one, must not trust the old
// observation: a create on that node and a start of a VM there are refused
// with ErrPrecondition, and the error names the node, so the administrator
// knows where to look.
func testAgentStopsBeforeApply(t *testing.T, h Harness) {
	if h.SetAgent == nil {
		t.Skip("harness has no SetAgent hook")
	}
	e := newEnv(t, h)
	n1 := e.node(1)
	e.createTL("there", n1)
	if got := nodeOf(t, e.observe(), n1); got.IgvmAgent != drivers.AgentRunning {
		t.Fatalf("node %s: IgvmAgent = %s before the incident, want running", n1, got.IgvmAgent)
	}
	h.SetAgent(t, e.d, e.ref, n1, drivers.AgentStopped)
	for _, inst := range []struct {
		name string
		d    drivers.Driver
	}{{"same instance", e.d}, {"fresh instance", h.Reopen(t, e.d)}} {
		t.Run(inst.name, func(t *testing.T) {
			_, err := inst.d.Apply(e.ctx, e.ref, e.op(drivers.OpCreateVM, "new-there", e.tlParams(n1, 0, 0, nil)))
			wantErr(t, "create on a node whose agent stopped", err, drivers.ErrPrecondition, "vm/new-there")
			if err != nil && !strings.Contains(err.Error(), n1) {
				t.Errorf("create: error %q does not name node %s", err, n1)
			}
			_, err = inst.d.Apply(e.ctx, e.ref, e.op(drivers.OpStartVM, "there", nil))
			wantErr(t, "start on a node whose agent stopped", err, drivers.ErrPrecondition, "vm/there")
			if err != nil && !strings.Contains(err.Error(), n1) {
				t.Errorf("start: error %q does not name node %s", err, n1)
			}
		})
	}
	obs := e.observe()
	if v := e.vm("there"); v.Power != drivers.PowerOff || v.Node != n1 {
		t.Errorf("refused start: VM is %s on %s, want Off on %s", v.Power, v.Node, n1)
	}
	for _, v := range obs.VMs {
		if v.Name == "new-there" {
			t.Errorf("a refused create left VM %+v", v)
		}
	}
}
