package drivertest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Harness adapts one driver to the contract suite.
type Harness struct {
	// New returns a driver and a fresh, empty cluster of at least two nodes,
	// every node Up with IgvmAgent running. It registers its own cleanup.
	New func(t *testing.T) (drivers.Driver, drivers.ClusterRef)
	// SetAgent puts a node's IgvmAgent into state, a condition no op creates.
	// nil skips the scenarios that need it.
	SetAgent func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, node string, state drivers.AgentState)
	// SetNotes and Notes write and read the administrator's own text that
	// lives beside tlreconcile's annotations (Hyper-V: the VM's Notes), so the
	// suite can check that set-annotations leaves it alone. nil skips that check.
	SetNotes func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm, notes string)
	Notes    func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm string) string
	// Reopen returns a new instance of d's driver reaching the same cluster,
	// one that has observed nothing, as a second process applying a saved
	// plan has. The FreshInstanceApplies scenario needs it.
	Reopen func(t *testing.T, d drivers.Driver) drivers.Driver
	// Parallel is how many VMs the parallel scenario drives at once; 0 means 8.
	Parallel int

	// The hooks below are optional (nil skips what needs them); see hooks.go.

	// AgentStates are the states SetAgent can put an IgvmAgent into; nil
	// means stopped and absent (a platform whose agent is always installed
	// says stopped only).
	AgentStates []drivers.AgentState
	// LoseVTPM is the platform incident that resets a running VM's vTPM
	// where no op does (Azure Local: a failover to a node without the VM's
	// guest state key). The ResetChangesIdentity scenario needs it on a
	// platform without key protectors.
	LoseVTPM func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm string)
	// DeleteOutOfBand deletes a VM behind tlreconcile's back (Azure Local:
	// the portal's Delete; Hyper-V: Remove-VM on the host).
	DeleteOutOfBand func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm string)
	// CreateUnmanaged creates a VM the way another tool would, one
	// tlreconcile does not manage (Azure Local: an Arc VM through ARM
	// without tlreconcile's tags); the rules that refuse to touch it need it.
	CreateUnmanaged func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm string)
	// TamperAnnotations edits a managed VM's annotation record by hand into
	// values tlreconcile never writes (Azure Local: its ARM tags).
	TamperAnnotations func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, vm string)
}

// Run runs every scenario as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Reopen == nil {
		t.Fatal("drivertest: Harness.New and Harness.Reopen are required")
	}
	scenarios := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"ObserveEmptyCluster", testObserveEmpty},
		{"TrustedLaunchLifecycle", testLifecycle},
		{"RuleViolations", testRules},
		{"MemoryWhileRunning", testMemoryWhileRunning},
		{"IgvmAgentRules", testAgentRules},
		{"NotFound", testNotFound},
		{"OutsideProfile", testOutsideProfile},
		{"Idempotent", testIdempotent},
		{"Annotations", testAnnotations},
		{"MoveKeepsIdentity", testMoveKeepsIdentity},
		{"ResetChangesIdentity", testResetChangesIdentity},
		{"ParallelVMs", testParallel},
		{"FreshInstanceApplies", testFreshInstance},
		{"DeletedOutOfBand", testDeletedOutOfBand},
		{"AnnotationsEditedByHand", testAnnotationsEditedByHand},
		{"AgentStopsBeforeApply", testAgentStopsBeforeApply},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.fn(t, h) })
	}
}

// env is one scenario's driver and cluster.
type env struct {
	t    *testing.T
	d    drivers.Driver
	ref  drivers.ClusterRef
	ctx  context.Context
	prof drivers.Profile
}

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	d, ref := h.New(t)
	if len(ref.Nodes) < 2 {
		t.Fatalf("drivertest: Harness.New returned cluster %q with %d nodes; the suite needs at least 2", ref.Name, len(ref.Nodes))
	}
	e := &env{t: t, d: d, ref: ref, ctx: t.Context(), prof: drivers.ProfileOf(d)}
	e.keepInfrastructure(e.observe()) // sim creates the cluster on first observe
	return e
}

func (e *env) node(i int) string {
	nodes := slices.Clone(e.ref.Nodes)
	slices.Sort(nodes)
	return nodes[i]
}

func (e *env) op(kind drivers.OpKind, vm string, p *drivers.Params) drivers.Op {
	return drivers.Op{Kind: kind, Cluster: e.ref.Name, VM: vm, Params: p}
}

// apply runs op and fails the test on error.
func (e *env) apply(op drivers.Op) drivers.Result {
	e.t.Helper()
	res, err := e.d.Apply(e.ctx, e.ref, op)
	if err != nil {
		e.t.Fatalf("%s %s: unexpected error: %v", op.Kind, op.VM+op.Node, err)
	}
	return res
}

// applyChanged runs op and requires it to report a change.
func (e *env) applyChanged(op drivers.Op) {
	e.t.Helper()
	if res := e.apply(op); !res.Changed {
		e.t.Fatalf("%s %s: Changed = false, want true (message %q)", op.Kind, op.VM+op.Node, res.Message)
	}
}

func (e *env) observe() *drivers.Observed {
	e.t.Helper()
	obs, err := e.d.Observe(e.ctx, e.ref)
	if err != nil {
		e.t.Fatalf("observe %s: %v", e.ref.Name, err)
	}
	return obs
}

// vm observes the cluster and returns the named VM, failing when absent.
func (e *env) vm(name string) drivers.VM {
	e.t.Helper()
	obs := e.observe()
	for _, v := range obs.VMs {
		if v.Name == name {
			return v
		}
	}
	e.t.Fatalf("observe: VM %s missing", name)
	return drivers.VM{}
}

// createTL creates a Gen 2 trusted-launch VM on node with a key protector and
// an enabled vTPM, Off, managed by tlreconcile.
func (e *env) createTL(name, node string) {
	e.t.Helper()
	if e.wholeCreate() {
		e.createWholeTL(name, node)
		return
	}
	e.applyChanged(e.op(drivers.OpCreateVM, name, &drivers.Params{
		Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 2, MemoryMB: 2048, TargetNode: node,
		Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "h-" + name},
	}))
	e.applyChanged(e.op(drivers.OpEnsureKeyProtector, name, nil))
	e.applyChanged(e.op(drivers.OpEnableTPM, name, nil))
}

func (e *env) createGen1(name string) {
	e.t.Helper()
	e.applyChanged(e.op(drivers.OpCreateVM, name, &drivers.Params{Generation: 1, SecurityType: drivers.SecurityStandard, Processors: 1, MemoryMB: 1024, TargetNode: e.node(0)}))
}

// wantErr checks that err wraps sentinel and names the VM or node first.
func wantErr(t *testing.T, what string, err, sentinel error, target string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error %q does not wrap %q", what, err, sentinel)
	}
	if drivers.IsTransient(err) {
		t.Errorf("%s: rule violation %q is marked transient; apply would retry it forever", what, err)
	}
	if target != "" && !strings.HasPrefix(err.Error(), target+":") {
		t.Errorf("%s: error %q does not start with the resource %q", what, err, target)
	}
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32
}

func testObserveEmpty(t *testing.T, h Harness) {
	e := newEnv(t, h)
	obs := e.observe()
	if obs.Cluster != e.ref.Name {
		t.Errorf("Cluster = %q, want %q", obs.Cluster, e.ref.Name)
	}
	if obs.ObservedAt.IsZero() {
		t.Error("ObservedAt is zero")
	}
	if obs.VMs == nil || len(tenants(obs)) != 0 {
		t.Errorf("VMs = %#v, want a non-nil list without VMs besides the platform's own", obs.VMs)
	}
	for _, v := range infrastructure(obs) {
		if v.Annotations != nil {
			t.Errorf("infrastructure VM %s carries annotations %+v; nothing may ever manage it", v.Name, *v.Annotations)
		}
	}
	var names []string
	for _, n := range obs.Nodes {
		names = append(names, n.Name)
		if n.State != drivers.NodeUp || n.IgvmAgent != drivers.AgentRunning {
			t.Errorf("node %s: state %s, IgvmAgent %s; want Up, running", n.Name, n.State, n.IgvmAgent)
		}
	}
	want := slices.Clone(e.ref.Nodes)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("nodes = %v, want %v (sorted)", names, want)
	}
}

func testLifecycle(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if e.wholeCreate() {
		lifecycleWhole(e)
		return
	}
	node := e.node(1)
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "abc", Protect: true}
	e.applyChanged(e.op(drivers.OpCreateVM, "tl-01", &drivers.Params{
		Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 4, MemoryMB: 8192, TargetNode: node,
		Image:       &drivers.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"},
		Annotations: ann,
	}))
	created := e.vm("tl-01")
	if created.Power != drivers.PowerOff || !created.SecureBoot || created.SecureBootTemplate != "MicrosoftWindows" ||
		created.TPMEnabled || created.KeyProtector || created.VTPMIdentity != "" || created.Annotations == nil || *created.Annotations != *ann {
		t.Fatalf("after create-vm: %+v; want Off, Secure Boot on with MicrosoftWindows, no TPM, no key protector, no identity, annotations %+v", created, *ann)
	}
	e.applyChanged(e.op(drivers.OpSetSecureBoot, "tl-01", &drivers.Params{SecureBoot: drivers.Bool(true), SecureBootTemplate: "MicrosoftUEFICertificateAuthority"}))
	e.applyChanged(e.op(drivers.OpEnsureKeyProtector, "tl-01", nil))
	e.applyChanged(e.op(drivers.OpEnableTPM, "tl-01", nil))
	e.applyChanged(e.op(drivers.OpSetSecurity, "tl-01", &drivers.Params{EncryptState: drivers.Bool(true), VBSOptOut: drivers.Bool(false)}))
	e.applyChanged(e.op(drivers.OpStartVM, "tl-01", nil))
	final := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "abc", Protect: true, Node: node}
	e.applyChanged(e.op(drivers.OpSetAnnotations, "tl-01", &drivers.Params{Annotations: final}))

	got := e.vm("tl-01")
	if got.ID == "" {
		t.Error("ID is empty")
	}
	if !isSHA256Hex(got.KeyProtectorSHA256) {
		t.Errorf("KeyProtectorSHA256 = %q, want 64 hex digits", got.KeyProtectorSHA256)
	}
	if !isSHA256Hex(got.VTPMIdentity) {
		t.Fatalf("VTPMIdentity = %q, want 64 hex digits", got.VTPMIdentity)
	}
	want := drivers.VM{
		Name: "tl-01", ID: got.ID, Node: node, Generation: 2, Power: drivers.PowerRunning, Processors: 4, MemoryMB: 8192,
		SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: true, SecureBootTemplate: "MicrosoftUEFICertificateAuthority",
		TPMEnabled: true, KeyProtector: true, KeyProtectorSHA256: got.KeyProtectorSHA256, EncryptState: true, VBSOptOut: false,
		FileAccess: drivers.FileAccessHostAdminsOnly, VTPMInitialized: true, VTPMIdentity: got.VTPMIdentity, Annotations: final,
	}
	if diff := diffVM(got, want); diff != "" {
		t.Errorf("observed VM differs:\n%s", diff)
	}
	// The identity is stable across observations.
	if again := e.vm("tl-01"); again.VTPMIdentity != got.VTPMIdentity {
		t.Errorf("identity changed between two observations: %s then %s", got.VTPMIdentity, again.VTPMIdentity)
	}
	if vo, ok := e.d.(drivers.VMObserver); ok {
		one, err := vo.ObserveVM(e.ctx, e.ref, "tl-01")
		if err != nil {
			t.Fatalf("ObserveVM: %v", err)
		}
		if diff := diffVM(*one, got); diff != "" {
			t.Errorf("ObserveVM differs from Observe:\n%s", diff)
		}
		_, err = vo.ObserveVM(e.ctx, e.ref, "no-such-vm")
		wantErr(t, "ObserveVM of an unknown VM", err, drivers.ErrNotFound, "")
	}
	// Stop and delete: the VM is gone.
	e.applyChanged(e.op(drivers.OpStopVM, "tl-01", nil))
	e.applyChanged(e.op(drivers.OpDeleteVM, "tl-01", nil))
	if obs := e.observe(); len(tenants(obs)) != 0 {
		t.Errorf("after delete-vm: VMs = %v, want none", obs.VMs)
	}
}

// diffVM lists the fields that differ, one per line.
func diffVM(got, want drivers.VM) string {
	var b strings.Builder
	f := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			fmt.Fprintf(&b, "  %s: got %v, want %v\n", name, g, w)
		}
	}
	f("Name", got.Name, want.Name)
	f("ID", got.ID, want.ID)
	f("Node", got.Node, want.Node)
	f("Generation", got.Generation, want.Generation)
	f("Power", got.Power, want.Power)
	f("Processors", got.Processors, want.Processors)
	f("MemoryMB", got.MemoryMB, want.MemoryMB)
	f("SecurityType", got.SecurityType, want.SecurityType)
	f("SecureBoot", got.SecureBoot, want.SecureBoot)
	f("SecureBootTemplate", got.SecureBootTemplate, want.SecureBootTemplate)
	f("TPMEnabled", got.TPMEnabled, want.TPMEnabled)
	f("KeyProtector", got.KeyProtector, want.KeyProtector)
	f("KeyProtectorSHA256", got.KeyProtectorSHA256, want.KeyProtectorSHA256)
	f("EncryptState", got.EncryptState, want.EncryptState)
	f("VBSOptOut", got.VBSOptOut, want.VBSOptOut)
	f("FileAccess", got.FileAccess, want.FileAccess)
	f("VTPMInitialized", got.VTPMInitialized, want.VTPMInitialized)
	f("VTPMIdentity", got.VTPMIdentity, want.VTPMIdentity)
	if (got.Annotations == nil) != (want.Annotations == nil) || got.Annotations != nil && *got.Annotations != *want.Annotations {
		fmt.Fprintf(&b, "  Annotations: got %+v, want %+v\n", deref(got.Annotations), deref(want.Annotations))
	}
	return b.String()
}

func deref(a *drivers.Annotations) any {
	if a == nil {
		return nil
	}
	return *a
}
