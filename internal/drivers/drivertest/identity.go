package drivertest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// testAnnotations: set-annotations round-trips, is idempotent, can remove the
// record, and leaves the administrator's own notes alone.
func testAnnotations(t *testing.T, h Harness) {
	e := newEnv(t, h)
	steps := []*drivers.Annotations{
		{ManagedBy: drivers.ManagedBy, SpecHash: specHash("1"), Protect: true, VTPMIdentity: "aa", Node: e.node(0)},
		{ManagedBy: drivers.ManagedBy, SpecHash: specHash("2"), Protect: false, VTPMIdentity: "bb", Node: e.node(1)},
		nil,
		{ManagedBy: drivers.ManagedBy, SpecHash: specHash("3")},
	}
	if e.wholeCreate() {
		// Managed from birth; a plan never removes the record (plan
		// validation needs annotations), so the platform may refuse that.
		born := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("vm")}
		e.applyChanged(e.op(drivers.OpCreateVM, "vm", e.tlParams(e.node(0), 0, 0, born)))
		if v := e.vm("vm"); v.Annotations == nil || *v.Annotations != *born {
			t.Fatalf("create-vm with annotations: Annotations = %+v, want %+v (managed from birth)", deref(v.Annotations), *born)
		}
		steps = []*drivers.Annotations{steps[0], steps[1], steps[3]}
	} else {
		e.applyChanged(e.op(drivers.OpCreateVM, "vm", &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, TargetNode: e.node(0)}))
		if v := e.vm("vm"); v.Annotations != nil {
			t.Fatalf("create-vm without annotations: Annotations = %+v, want nil (unmanaged)", *v.Annotations)
		}
	}
	const adminNotes = "owner: finance team\nticket CHG-4711: do not move on Fridays"
	notes := h.SetNotes != nil && h.Notes != nil
	if notes {
		h.SetNotes(t, e.d, e.ref, "vm", adminNotes)
	}
	for i, a := range steps {
		t.Run(fmt.Sprintf("step%d", i), func(t *testing.T) {
			e.applyChanged(e.op(drivers.OpSetAnnotations, "vm", &drivers.Params{Annotations: a}))
			got := e.vm("vm").Annotations
			if (got == nil) != (a == nil) || got != nil && *got != *a {
				t.Fatalf("Annotations = %+v, want %+v", deref(got), deref(a))
			}
			if res := e.apply(e.op(drivers.OpSetAnnotations, "vm", &drivers.Params{Annotations: a})); res.Changed {
				t.Errorf("setting the same annotations again: Changed = true")
			}
			if notes {
				if n := h.Notes(t, e.d, e.ref, "vm"); !containsText(n, adminNotes) {
					t.Errorf("set-annotations touched the administrator's notes: %q, want them to keep %q", n, adminNotes)
				}
			}
		})
	}
}

func containsText(s, sub string) bool {
	return strings.Contains(s, sub)
}

// testMoveKeepsIdentity: live migration of a running VM and quick move of an
// Off one keep the vTPM identity and the key protector.
func testMoveKeepsIdentity(t *testing.T, h Harness) {
	e := newEnv(t, h)
	n0, n1 := e.node(0), e.node(1)
	e.createTL("mover", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "mover", nil))
	v0 := e.vm("mover")
	if !isSHA256Hex(v0.VTPMIdentity) {
		t.Fatalf("VTPMIdentity = %q before the move, want 64 hex digits", v0.VTPMIdentity)
	}
	steps := []struct {
		name  string
		to    string
		stop  bool
		power drivers.PowerState
	}{
		{"live migration", n1, false, drivers.PowerRunning},
		{"quick move", n0, true, drivers.PowerOff},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.stop {
				e.applyChanged(e.op(drivers.OpStopVM, "mover", nil))
			}
			e.applyChanged(e.op(drivers.OpMoveVM, "mover", &drivers.Params{TargetNode: s.to}))
			v := e.vm("mover")
			if v.Node != s.to || v.Power != s.power {
				t.Errorf("after the move: node %s, power %s; want %s, %s", v.Node, v.Power, s.to, s.power)
			}
			if v.VTPMIdentity == "" && v.Power == drivers.PowerOff {
				// The platform reads the identity in the running guest only.
				e.applyChanged(e.op(drivers.OpStartVM, "mover", nil))
				v = e.vm("mover")
			}
			if v.VTPMIdentity != v0.VTPMIdentity {
				t.Errorf("vTPM identity changed by the move: %s, was %s", v.VTPMIdentity, v0.VTPMIdentity)
			}
			if v.KeyProtectorSHA256 != v0.KeyProtectorSHA256 {
				t.Errorf("key protector changed by the move")
			}
		})
	}
}

// testResetChangesIdentity: replacing the key protector resets the vTPM: a
// new identity, not initialised until the next start; disable-tpm turns it off.
func testResetChangesIdentity(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if !e.prof.Has(drivers.OpEnsureKeyProtector) {
		lostVTPM(e, h)
		return
	}
	e.createTL("resetme", e.node(0))
	e.applyChanged(e.op(drivers.OpStartVM, "resetme", nil))
	e.applyChanged(e.op(drivers.OpStopVM, "resetme", nil))
	v0 := e.vm("resetme")
	e.applyChanged(e.op(drivers.OpEnsureKeyProtector, "resetme", &drivers.Params{Reset: true}))
	v1 := e.vm("resetme")
	if !isSHA256Hex(v1.VTPMIdentity) || v1.VTPMIdentity == v0.VTPMIdentity {
		t.Errorf("after a key protector reset: identity %q, was %q; want a new one", v1.VTPMIdentity, v0.VTPMIdentity)
	}
	if v1.KeyProtectorSHA256 == v0.KeyProtectorSHA256 || !v1.KeyProtector {
		t.Errorf("after a key protector reset: key protector %q, was %q; want a new one", v1.KeyProtectorSHA256, v0.KeyProtectorSHA256)
	}
	if want := drivers.ProfileOf(e.d).TemplateFixedOnceInitialised; v1.VTPMInitialized != want {
		t.Errorf("after a key protector reset: VTPMInitialized = %v, want %v (true only where the reset leaves the guest-state file written: Profile.TemplateFixedOnceInitialised)", v1.VTPMInitialized, want)
	}
	e.applyChanged(e.op(drivers.OpStartVM, "resetme", nil))
	if v := e.vm("resetme"); !v.VTPMInitialized || v.VTPMIdentity != v1.VTPMIdentity {
		t.Errorf("after start: initialised %v, identity %s; want true, %s", v.VTPMInitialized, v.VTPMIdentity, v1.VTPMIdentity)
	}
	e.applyChanged(e.op(drivers.OpStopVM, "resetme", nil))
	e.applyChanged(e.op(drivers.OpDisableTPM, "resetme", nil))
	if v := e.vm("resetme"); v.TPMEnabled || v.VTPMInitialized {
		t.Errorf("after disable-tpm: TPMEnabled %v, VTPMInitialized %v; want false, false", v.TPMEnabled, v.VTPMInitialized)
	}
}

// testParallel: full op sequences on different VMs at once leave every VM
// exactly as its own sequence says (run it with -race).
func testParallel(t *testing.T, h Harness) {
	e := newEnv(t, h)
	n := h.Parallel
	if n == 0 {
		n = 8
	}
	n0, n1 := e.node(0), e.node(1)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("par-%02d", i)
			ops := e.parallelOps(name, i, n0, n1)
			for _, op := range ops {
				if _, err := e.d.Apply(e.ctx, e.ref, op); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("VM %d: %v", i, err)
		}
	}
	vms := tenants(e.observe())
	if len(vms) != n {
		t.Fatalf("observed %d VMs, want %d", len(vms), n)
	}
	seen := map[string]string{}
	for i, v := range vms {
		name := fmt.Sprintf("par-%02d", i)
		wantNode := n0
		if i%2 == 1 {
			wantNode = n1
		}
		if v.Name != name || v.Node != wantNode || v.Power != drivers.PowerRunning || v.Processors != 2+i%4 ||
			!v.TPMEnabled || !v.VTPMInitialized || v.Annotations == nil || v.Annotations.SpecHash != specHash(name) {
			t.Errorf("VM %d: %+v; want %s on %s, Running, %d processors, vTPM on, annotations %s", i, v, name, wantNode, 2+i%4, name)
		}
		if other, dup := seen[v.VTPMIdentity]; dup {
			t.Errorf("VMs %s and %s share vTPM identity %s", other, v.Name, v.VTPMIdentity)
		}
		seen[v.VTPMIdentity] = v.Name
	}
}

// parallelOps is the op sequence of the parallel scenario's VM i: created on
// n0, i%4 more processors, Running, on n1 when i is odd, annotated.
func (e *env) parallelOps(name string, i int, n0, n1 string) []drivers.Op {
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash(name)}
	var ops []drivers.Op
	if e.wholeCreate() {
		// The platform places a new VM itself and starts it.
		to := n0
		if i%2 == 1 {
			to = n1
		}
		ops = []drivers.Op{e.op(drivers.OpCreateVM, name, e.tlParams(n0, 2, 2048, ann))}
		if e.prof.CreateStarts {
			ops = append(ops, e.op(drivers.OpStopVM, name, nil))
		}
		return append(ops,
			e.op(drivers.OpSetHardware, name, &drivers.Params{Processors: 2 + i%4, MemoryMB: 2048}),
			e.op(drivers.OpStartVM, name, nil),
			e.op(drivers.OpMoveVM, name, &drivers.Params{TargetNode: to}),
			e.op(drivers.OpSetAnnotations, name, &drivers.Params{Annotations: ann}))
	}
	ops = []drivers.Op{
		e.op(drivers.OpCreateVM, name, &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 2, MemoryMB: 2048, TargetNode: n0}),
		e.op(drivers.OpSetProcessor, name, &drivers.Params{Processors: 2 + i%4}),
		e.op(drivers.OpEnsureKeyProtector, name, nil),
		e.op(drivers.OpEnableTPM, name, nil),
		e.op(drivers.OpStartVM, name, nil),
	}
	if i%2 == 1 {
		ops = append(ops, e.op(drivers.OpMoveVM, name, &drivers.Params{TargetNode: n1}))
	}
	return append(ops, e.op(drivers.OpSetAnnotations, name, &drivers.Params{Annotations: ann}))
}
