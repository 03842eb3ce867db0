package drivertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The scenarios below are the shape a scenario takes where the security
// profile is fixed at create (Azure Local, DESIGN §1.1): one create-vm with
// the security profile, no key-protector or TPM op, CPU and memory in one
// set-hardware, Secure Boot only ever switched back on, a VM managed from
// birth. Each is called by the scenario of the same name when
// env.wholeCreate() says so; they assert the same things the classic ones
// do, in the platform's terms.

// lifecycleWhole: a trusted-launch VM from one create-vm is what it was asked
// to be, hardware changes in place as the profile allows, and it goes away.
func lifecycleWhole(e *env) {
	t := e.t
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("tl-01"), Protect: true}
	e.applyChanged(e.op(drivers.OpCreateVM, "tl-01", e.tlParams(e.node(1), 4, 8192, ann)))
	created := e.vm("tl-01")
	e.checkCreatedWhole(created, ann)
	if created.Power != drivers.PowerRunning {
		e.applyChanged(e.op(drivers.OpStartVM, "tl-01", nil))
	}
	e.hardwareWhole("tl-01")
	node := e.vm("tl-01").Node
	final := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("tl-01"), Protect: true, Node: node}
	e.applyChanged(e.op(drivers.OpSetAnnotations, "tl-01", &drivers.Params{Annotations: final}))

	got := e.vm("tl-01")
	if !isSHA256Hex(got.VTPMIdentity) {
		t.Fatalf("VTPMIdentity = %q, want 64 hex digits", got.VTPMIdentity)
	}
	if created.VTPMIdentity != "" && got.VTPMIdentity != created.VTPMIdentity {
		t.Errorf("a stop, set-hardware and start changed the vTPM identity: %s, was %s", got.VTPMIdentity, created.VTPMIdentity)
	}
	want := drivers.VM{
		Name: "tl-01", ID: created.ID, Node: node, Generation: 2, Power: drivers.PowerRunning, Processors: 2, MemoryMB: 4096,
		SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: true, SecureBootTemplate: got.SecureBootTemplate, TPMEnabled: true,
		EncryptState: got.EncryptState, FileAccess: drivers.FileAccessHostAdminsOnly, VTPMInitialized: true, VTPMIdentity: got.VTPMIdentity,
		Annotations: final,
	}
	if !e.prof.Has(drivers.OpSetHardware) {
		want.Processors, want.MemoryMB = 4, 8192
	}
	if diff := diffVM(got, want); diff != "" {
		t.Errorf("observed VM differs:\n%s", diff)
	}
	if got.SecureBootTemplate != "" && got.SecureBootTemplate != "MicrosoftWindows" {
		t.Errorf("SecureBootTemplate = %q, want the default MicrosoftWindows (or unknown)", got.SecureBootTemplate)
	}
	if again := e.vm("tl-01"); again.VTPMIdentity != got.VTPMIdentity {
		t.Errorf("identity changed between two observations: %s then %s", got.VTPMIdentity, again.VTPMIdentity)
	}
	e.observeVMAgrees("tl-01", got)
	e.applyChanged(e.op(drivers.OpStopVM, "tl-01", nil))
	e.applyChanged(e.op(drivers.OpDeleteVM, "tl-01", nil))
	if obs := e.observe(); len(tenants(obs)) != 0 {
		t.Errorf("after delete-vm: VMs = %v, want none besides the platform's own", names(obs.VMs))
	}
}

// checkCreatedWhole checks a VM just made by one create-vm with ann.
func (e *env) checkCreatedWhole(created drivers.VM, ann *drivers.Annotations) {
	t := e.t
	t.Helper()
	wantPower := drivers.PowerOff
	if e.prof.CreateStarts {
		wantPower = drivers.PowerRunning
	}
	if created.Power != wantPower || created.SecurityType != drivers.SecurityTrustedLaunch || !created.SecureBoot || !created.TPMEnabled ||
		created.KeyProtector || created.KeyProtectorSHA256 != "" || created.Generation != 2 || created.Processors != 4 || created.MemoryMB != 8192 ||
		created.ID == "" || !slices.Contains(e.ref.Nodes, created.Node) || created.Annotations == nil || *created.Annotations != *ann {
		t.Fatalf("after create-vm: %+v (annotations %+v); want %s, TrustedLaunch, Secure Boot and vTPM on, no key protector, Gen 2, 4 processors, 8192 MB, on a node of %v, annotations %+v",
			created, deref(created.Annotations), wantPower, e.ref.Nodes, *ann)
	}
	if created.Power == drivers.PowerRunning && (!isSHA256Hex(created.VTPMIdentity) || !created.VTPMInitialized) {
		t.Fatalf("a running trusted-launch VM: VTPMIdentity %q, initialised %v; want 64 hex digits, true", created.VTPMIdentity, created.VTPMInitialized)
	}
}

// hardwareWhole changes the running VM's hardware as the profile allows:
// memory while it runs (static memory, Windows Server 2016+ guests) unless
// the profile needs it Off, processors in a stop/start window. It leaves the
// VM Running with 2 processors and 4096 MB.
func (e *env) hardwareWhole(name string) {
	t := e.t
	t.Helper()
	if !e.prof.Has(drivers.OpSetHardware) {
		return
	}
	if !e.prof.NeedsOff(drivers.SettingMemory) {
		e.applyChanged(e.op(drivers.OpSetHardware, name, &drivers.Params{Processors: 4, MemoryMB: 4096}))
		if v := e.vm(name); v.MemoryMB != 4096 || v.Power != drivers.PowerRunning {
			t.Fatalf("set-hardware of the memory while running: %d MB, %s; want 4096 MB, still Running", v.MemoryMB, v.Power)
		}
	}
	e.applyChanged(e.op(drivers.OpStopVM, name, nil))
	e.applyChanged(e.op(drivers.OpSetHardware, name, &drivers.Params{Processors: 2, MemoryMB: 4096}))
	e.applyChanged(e.op(drivers.OpStartVM, name, nil))
}

// observeVMAgrees checks the optional VMObserver against Observe.
func (e *env) observeVMAgrees(name string, got drivers.VM) {
	t := e.t
	t.Helper()
	vo, ok := e.d.(drivers.VMObserver)
	if !ok {
		return
	}
	one, err := vo.ObserveVM(e.ctx, e.ref, name)
	if err != nil {
		t.Fatalf("ObserveVM: %v", err)
	}
	if diff := diffVM(*one, got); diff != "" {
		t.Errorf("ObserveVM differs from Observe:\n%s", diff)
	}
	_, err = vo.ObserveVM(e.ctx, e.ref, "no-such-vm")
	wantErr(t, "ObserveVM of an unknown VM", err, drivers.ErrNotFound, "")
}

// rulesWhole: what the platform refuses is refused with the right sentinel,
// names the resource first and changes nothing: a trusted-launch create
// without what trusted launch needs, a processor change while running
// (where the profile needs the VM Off for it), Secure Boot switched off, a
// VM tlreconcile does not manage, and the platform's own VMs.
func rulesWhole(e *env, h Harness) {
	t := e.t
	n0 := e.node(0)
	e.createTL("running", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "running", nil))
	if h.CreateUnmanaged != nil {
		h.CreateUnmanaged(t, e.d, e.ref, "foreign")
	}
	before := e.observe()

	gen1 := e.tlParams(n0, 0, 0, nil)
	gen1.Generation = 1
	noTPM, noSB := e.tlParams(n0, 0, 0, nil), e.tlParams(n0, 0, 0, nil)
	noTPM.VTPM, noSB.SecureBoot = drivers.Bool(false), drivers.Bool(false)
	cases := []ruleCase{
		{"trusted launch needs gen 2", e.op(drivers.OpCreateVM, "tl-gen1", gen1), drivers.ErrPrecondition, ""},
		{"trusted launch needs the vtpm", e.op(drivers.OpCreateVM, "tl-notpm", noTPM), drivers.ErrInvalidArgument, ""},
		{"trusted launch needs secure boot", e.op(drivers.OpCreateVM, "tl-nosb", noSB), drivers.ErrInvalidArgument, ""},
	}
	if h.CreateUnmanaged != nil {
		cases = append(cases,
			ruleCase{"create a name tlreconcile does not manage", e.op(drivers.OpCreateVM, "foreign", e.tlParams(n0, 0, 0, nil)), drivers.ErrAlreadyExists, ""},
			ruleCase{"stop a VM tlreconcile does not manage", e.op(drivers.OpStopVM, "foreign", nil), drivers.ErrPrecondition, "not managed"},
			ruleCase{"delete a VM tlreconcile does not manage", e.op(drivers.OpDeleteVM, "foreign", nil), drivers.ErrPrecondition, "not managed"},
			ruleCase{"annotate a VM tlreconcile does not manage", e.op(drivers.OpSetAnnotations, "foreign", &drivers.Params{
				Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("foreign")}}), drivers.ErrPrecondition, "not managed"})
	}
	if e.prof.Has(drivers.OpSetHardware) && e.prof.NeedsOff(drivers.SettingProcessors) {
		cases = append(cases, ruleCase{"processors while running", e.op(drivers.OpSetHardware, "running", &drivers.Params{Processors: 8, MemoryMB: 2048}), drivers.ErrInvalidState, "Off"})
	}
	if e.prof.CanReEnable(drivers.SettingSecureBoot) {
		cases = append(cases, ruleCase{"secure boot off", e.op(drivers.OpSetSecureBoot, "running", &drivers.Params{SecureBoot: drivers.Bool(false)}), drivers.ErrNotSupported, ""})
	}
	for _, v := range infrastructure(before) {
		for _, op := range []drivers.Op{
			e.op(drivers.OpStopVM, v.Name, nil), e.op(drivers.OpDeleteVM, v.Name, nil),
			e.op(drivers.OpMoveVM, v.Name, &drivers.Params{TargetNode: e.other(v.Node)}),
			e.op(drivers.OpSetAnnotations, v.Name, &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy}}),
		} {
			cases = append(cases, ruleCase{fmt.Sprintf("%s of infrastructure VM %s", op.Kind, v.Name), op, drivers.ErrPrecondition, "infrastructure"})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.d.Apply(e.ctx, e.ref, tc.op)
			wantErr(t, string(tc.op.Kind), err, tc.sentinel, "vm/"+tc.op.VM)
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not mention %q", err, tc.contains)
			}
		})
	}
	e.unchangedSince(before, "refused ops")
}

// unchangedSince checks that the cluster's VMs are as before was.
func (e *env) unchangedSince(before *drivers.Observed, what string) {
	t := e.t
	t.Helper()
	after := e.observe()
	if len(after.VMs) != len(before.VMs) {
		t.Fatalf("%s changed the VM list: %v before, %v after", what, names(before.VMs), names(after.VMs))
	}
	for i := range before.VMs {
		if d := diffVM(after.VMs[i], before.VMs[i]); d != "" {
			t.Errorf("%s changed VM %s:\n%s", what, before.VMs[i].Name, d)
		}
	}
}

// idempotentWhole: every op of the profile that asks for what is already so
// reports Changed=false, including a create-vm of a VM that exists (an
// interrupted apply runs its create again).
func idempotentWhole(e *env) {
	n0 := e.node(0)
	e.createTL("off", n0)
	e.createTL("on", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "on", nil))
	on := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("x")}
	e.applyChanged(e.op(drivers.OpSetAnnotations, "on", &drivers.Params{Annotations: on}))
	for _, n := range e.ref.Nodes {
		e.apply(drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: e.ref.Name, Node: n})
	}
	before := e.observe()
	cases := []drivers.Op{
		e.op(drivers.OpCreateVM, "on", e.tlParams(n0, 2, 2048, &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("on")})),
		e.op(drivers.OpStopVM, "off", nil),
		e.op(drivers.OpStartVM, "on", nil),
		e.op(drivers.OpSetSecureBoot, "on", &drivers.Params{SecureBoot: drivers.Bool(true)}),
		e.op(drivers.OpSetHardware, "on", &drivers.Params{Processors: 2, MemoryMB: 2048}),
		e.op(drivers.OpMoveVM, "on", &drivers.Params{TargetNode: n0}),
		e.op(drivers.OpSetAnnotations, "on", &drivers.Params{Annotations: on}),
		{Kind: drivers.OpStartIgvmAgent, Cluster: e.ref.Name, Node: n0},
	}
	for _, n := range e.ref.Nodes {
		cases = append(cases, drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: e.ref.Name, Node: n})
	}
	for _, op := range cases {
		if !e.prof.Has(op.Kind) {
			continue
		}
		e.t.Run(fmt.Sprintf("%s %s%s", op.Kind, op.VM, op.Node), func(t *testing.T) {
			if res := e.apply(op); res.Changed {
				t.Errorf("Changed = true for a value it already had (message %q)", res.Message)
			}
		})
	}
	e.unchangedSince(before, "no-op ops")
}

// lostVTPM is ResetChangesIdentity where no op resets a vTPM (no key
// protector): the platform incident that loses one (Azure Local: a failover
// without the guest state key) gives the running VM a new identity, which
// it keeps from then on.
func lostVTPM(e *env, h Harness) {
	t := e.t
	if h.LoseVTPM == nil {
		t.Skipf("the %s profile has no op that resets a vTPM and the harness has no LoseVTPM hook", e.prof.Name)
	}
	e.createTL("resetme", e.node(0))
	e.applyChanged(e.op(drivers.OpStartVM, "resetme", nil))
	v0 := e.vm("resetme")
	if !isSHA256Hex(v0.VTPMIdentity) {
		t.Fatalf("VTPMIdentity = %q before the incident, want 64 hex digits", v0.VTPMIdentity)
	}
	h.LoseVTPM(t, e.d, e.ref, "resetme")
	v1 := e.vm("resetme")
	if !isSHA256Hex(v1.VTPMIdentity) || v1.VTPMIdentity == v0.VTPMIdentity || !v1.VTPMInitialized || v1.Power != drivers.PowerRunning {
		t.Fatalf("after losing the vTPM: identity %q (was %q), initialised %v, %s; want a new identity, initialised, Running",
			v1.VTPMIdentity, v0.VTPMIdentity, v1.VTPMInitialized, v1.Power)
	}
	if v1.Annotations == nil || v1.Annotations.VTPMIdentity != v0.Annotations.VTPMIdentity {
		t.Errorf("the incident changed the recorded identity: %+v; only set-annotations may (so the planner sees vtpm-state-lost)", deref(v1.Annotations))
	}
	e.applyChanged(e.op(drivers.OpStopVM, "resetme", nil))
	e.applyChanged(e.op(drivers.OpStartVM, "resetme", nil))
	if v := e.vm("resetme"); v.VTPMIdentity != v1.VTPMIdentity {
		t.Errorf("after a stop and start: identity %s, want the new one %s kept", v.VTPMIdentity, v1.VTPMIdentity)
	}
}

// freshWhole is FreshInstanceApplies in the profile's ops.
func freshWhole(e *env, h Harness) {
	t := e.t
	n0 := e.node(0)
	fresh := func(op drivers.Op) {
		t.Helper()
		res, err := h.Reopen(t, e.d).Apply(e.ctx, e.ref, op)
		if err != nil {
			t.Fatalf("%s %s on a fresh driver instance: %v", op.Kind, op.VM+op.Node, err)
		}
		if !res.Changed {
			t.Fatalf("%s %s on a fresh driver instance: Changed = false, want true", op.Kind, op.VM+op.Node)
		}
	}
	fresh(e.op(drivers.OpCreateVM, "fresh-01", e.tlParams(n0, 2, 2048, &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("fresh")})))
	if e.prof.CreateStarts {
		fresh(e.op(drivers.OpStopVM, "fresh-01", nil))
	}
	fresh(e.op(drivers.OpSetHardware, "fresh-01", &drivers.Params{Processors: 4, MemoryMB: 2048}))
	fresh(e.op(drivers.OpStartVM, "fresh-01", nil))
	to := e.other(e.vm("fresh-01").Node)
	fresh(e.op(drivers.OpMoveVM, "fresh-01", &drivers.Params{TargetNode: to, MigrationType: "Live"}))
	final := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("fresh"), Node: to}
	fresh(e.op(drivers.OpSetAnnotations, "fresh-01", &drivers.Params{Annotations: final}))
	fresh(drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: e.ref.Name, Node: n0})

	got := e.vm("fresh-01")
	if got.Node != to || got.Power != drivers.PowerRunning || got.Processors != 4 || !got.TPMEnabled ||
		!isSHA256Hex(got.VTPMIdentity) || got.Annotations == nil || *got.Annotations != *final {
		t.Fatalf("after ops on fresh instances: %+v; want Running on %s, 4 processors, a vTPM with an identity, annotations %+v", got, to, *final)
	}
	if !nodeOf(t, e.observe(), n0).MigrationIPsec {
		t.Errorf("node %s: enable-migration-ipsec on a fresh instance did not take", n0)
	}
}
