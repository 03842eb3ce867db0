package drivertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// testRules: every Hyper-V rule violation answers with the right sentinel,
// names the resource first, and changes nothing.
func testRules(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if e.wholeCreate() {
		rulesWhole(e, h)
		return
	}
	n0 := e.node(0)
	e.createGen1("gen1")
	e.createTL("running", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "running", nil))
	e.applyChanged(e.op(drivers.OpCreateVM, "nokp", &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, TargetNode: n0}))
	e.applyChanged(e.op(drivers.OpCreateVM, "runnotpm", &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, TargetNode: n0}))
	e.applyChanged(e.op(drivers.OpEnsureKeyProtector, "runnotpm", nil))
	e.applyChanged(e.op(drivers.OpStartVM, "runnotpm", nil))
	e.createTL("inited", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "inited", nil))
	e.applyChanged(e.op(drivers.OpStopVM, "inited", nil))
	if v := e.vm("inited"); !v.VTPMInitialized {
		t.Fatalf("a vTPM-enabled VM that has run: VTPMInitialized = false, want true")
	}
	// A vTPM reset (a new key protector) leaves the guest-state file written: the
	// template stays fixed (DESIGN §1.2), as set-secure-boot.ps1 checks it (a non-empty .vmgs).
	e.createTL("wasreset", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "wasreset", nil))
	e.applyChanged(e.op(drivers.OpStopVM, "wasreset", nil))
	e.applyChanged(e.op(drivers.OpEnsureKeyProtector, "wasreset", &drivers.Params{Reset: true}))
	before := e.observe()

	cases := []ruleCase{
		{"trusted launch needs gen 2", e.op(drivers.OpCreateVM, "tl-gen1", &drivers.Params{Generation: 1, SecurityType: drivers.SecurityTrustedLaunch, TargetNode: n0}), drivers.ErrPrecondition, ""},
		{"secure boot needs gen 2", e.op(drivers.OpSetSecureBoot, "gen1", &drivers.Params{SecureBoot: drivers.Bool(true)}), drivers.ErrPrecondition, "Generation"},
		{"key protector needs gen 2", e.op(drivers.OpEnsureKeyProtector, "gen1", nil), drivers.ErrPrecondition, "Generation"},
		{"tpm needs gen 2", e.op(drivers.OpEnableTPM, "gen1", nil), drivers.ErrPrecondition, "Generation"},
		{"enable tpm without key protector", e.op(drivers.OpEnableTPM, "nokp", nil), drivers.ErrPrecondition, "cannot be changed without a valid key protector"},
		{"enable tpm while running", e.op(drivers.OpEnableTPM, "runnotpm", nil), drivers.ErrInvalidState, "32775"},
		{"disable tpm while running", e.op(drivers.OpDisableTPM, "running", nil), drivers.ErrInvalidState, "32775"},
		{"secure boot off while running", e.op(drivers.OpSetSecureBoot, "running", &drivers.Params{SecureBoot: drivers.Bool(false)}), drivers.ErrInvalidState, "32775"},
		{"template while running", e.op(drivers.OpSetSecureBoot, "running", &drivers.Params{SecureBootTemplate: "MicrosoftUEFICertificateAuthority"}), drivers.ErrInvalidState, "32775"},
		{"vbs opt-out while running", e.op(drivers.OpSetSecurity, "running", &drivers.Params{VBSOptOut: drivers.Bool(true)}), drivers.ErrInvalidState, "32775"},
		{"processors while running", e.op(drivers.OpSetProcessor, "running", &drivers.Params{Processors: 8}), drivers.ErrInvalidState, "32775"},
		{"key protector reset while running", e.op(drivers.OpEnsureKeyProtector, "running", &drivers.Params{Reset: true}), drivers.ErrInvalidState, "32775"},
		{"delete while running", e.op(drivers.OpDeleteVM, "running", nil), drivers.ErrInvalidState, ""},
		{"template after vtpm init", e.op(drivers.OpSetSecureBoot, "inited", &drivers.Params{SecureBootTemplate: "OpenSourceShieldedVM"}), drivers.ErrPrecondition, "template"},
		{"create an existing name", e.op(drivers.OpCreateVM, "running", &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, TargetNode: n0}), drivers.ErrAlreadyExists, ""},
	}
	cases = append(cases, profileRuleCases(e)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.d.Apply(e.ctx, e.ref, tc.op)
			wantErr(t, string(tc.op.Kind), err, tc.sentinel, "vm/"+tc.op.VM)
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not mention %q", err, tc.contains)
			}
		})
	}
	// Refused ops change nothing (Hyper-V's known failure is a change that
	// silently did not happen; the reverse, a refusal that half-happened, is as bad).
	after := e.observe()
	if len(after.VMs) != len(before.VMs) {
		t.Fatalf("refused ops changed the VM list: %d VMs before, %d after", len(before.VMs), len(after.VMs))
	}
	for i := range before.VMs {
		if d := diffVM(after.VMs[i], before.VMs[i]); d != "" {
			t.Errorf("refused ops changed VM %s:\n%s", before.VMs[i].Name, d)
		}
	}
}

// testAgentRules: a trusted-launch VM cannot be created on, start on or move
// to a node whose IgvmAgent is not running; start-igvm-agent fixes a stopped
// agent but not an absent one.
func testAgentRules(t *testing.T, h Harness) {
	if h.SetAgent == nil {
		t.Skip("harness has no SetAgent hook")
	}
	e := newEnv(t, h)
	n0, n1 := e.node(0), e.node(1)
	e.createTL("on-n0", n0)
	e.createTL("on-n1", n1)
	states := h.AgentStates
	if states == nil {
		states = []drivers.AgentState{drivers.AgentStopped, drivers.AgentAbsent}
	}
	for _, state := range states {
		t.Run(string(state), func(t *testing.T) {
			h.SetAgent(t, e.d, e.ref, n1, state)
			if got := nodeOf(t, e.observe(), n1); got.IgvmAgent != state {
				t.Fatalf("node %s: IgvmAgent = %s after SetAgent(%s)", n1, got.IgvmAgent, state)
			}
			_, err := e.d.Apply(e.ctx, e.ref, e.op(drivers.OpStartVM, "on-n1", nil))
			wantErr(t, "start on a node without a running agent", err, drivers.ErrPrecondition, "vm/on-n1")
			_, err = e.d.Apply(e.ctx, e.ref, e.op(drivers.OpMoveVM, "on-n0", &drivers.Params{TargetNode: n1}))
			wantErr(t, "move to a node without a running agent", err, drivers.ErrPrecondition, "vm/on-n0")
			_, err = e.d.Apply(e.ctx, e.ref, e.op(drivers.OpCreateVM, "new-on-n1", e.tlParams(n1, 0, 0, nil)))
			wantErr(t, "create on a node without a running agent", err, drivers.ErrPrecondition, "vm/new-on-n1")
			if v := e.vm("on-n0"); v.Node != n0 {
				t.Errorf("refused move: VM is on %s, want %s", v.Node, n0)
			}
			if v := e.vm("on-n1"); v.Power != drivers.PowerOff {
				t.Errorf("refused start: VM is %s, want Off", v.Power)
			}
			// The healthy node still works.
			e.applyChanged(e.op(drivers.OpStartVM, "on-n0", nil))
			e.applyChanged(e.op(drivers.OpStopVM, "on-n0", nil))
		})
	}
	t.Run("start-igvm-agent", func(t *testing.T) {
		if slices.Contains(states, drivers.AgentAbsent) {
			h.SetAgent(t, e.d, e.ref, n1, drivers.AgentAbsent)
			_, err := e.d.Apply(e.ctx, e.ref, drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: e.ref.Name, Node: n1})
			wantErr(t, "start an absent agent", err, drivers.ErrPrecondition, "node/"+n1)
		}
		h.SetAgent(t, e.d, e.ref, n1, drivers.AgentStopped)
		e.applyChanged(drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: e.ref.Name, Node: n1})
		if got := nodeOf(t, e.observe(), n1); got.IgvmAgent != drivers.AgentRunning {
			t.Fatalf("after start-igvm-agent: IgvmAgent = %s, want running", got.IgvmAgent)
		}
		e.applyChanged(e.op(drivers.OpStartVM, "on-n1", nil))
		e.applyChanged(e.op(drivers.OpMoveVM, "on-n0", &drivers.Params{TargetNode: n1}))
	})
}

func nodeOf(t *testing.T, obs *drivers.Observed, name string) drivers.Node {
	t.Helper()
	for _, n := range obs.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("node %s missing from the observation", name)
	return drivers.Node{}
}

// testNotFound: every op on a VM or node that does not exist is ErrNotFound.
func testNotFound(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.createTL("real", e.node(0))
	params := map[drivers.OpKind]*drivers.Params{
		drivers.OpSetSecureBoot:  {SecureBoot: drivers.Bool(false)},
		drivers.OpSetSecurity:    {VBSOptOut: drivers.Bool(true)},
		drivers.OpSetProcessor:   {Processors: 2},
		drivers.OpSetMemory:      {MemoryMB: 2048},
		drivers.OpSetHardware:    {Processors: 2, MemoryMB: 2048},
		drivers.OpMoveVM:         {TargetNode: e.node(1)},
		drivers.OpSetAnnotations: {Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy}},
	}
	for _, k := range drivers.ProfileOf(e.d).Ops {
		switch k {
		case drivers.OpCreateVM, drivers.OpStartIgvmAgent, drivers.OpEnableMigrationIPsec, drivers.OpBackupGuestStateKeys:
			continue
		}
		t.Run(string(k), func(t *testing.T) {
			res, err := e.d.Apply(e.ctx, e.ref, e.op(k, "ghost", params[k]))
			if k == drivers.OpDeleteVM && err == nil && !res.Changed {
				return // deleting what is absent may also be an unchanged no-op, never a change
			}
			wantErr(t, string(k)+" on an unknown VM", err, drivers.ErrNotFound, "vm/ghost")
		})
	}
	t.Run("move to an unknown node", func(t *testing.T) {
		_, err := e.d.Apply(e.ctx, e.ref, e.op(drivers.OpMoveVM, "real", &drivers.Params{TargetNode: "ghost-node"}))
		wantErr(t, "move-vm", err, drivers.ErrNotFound, "vm/real")
	})
	t.Run("create on an unknown node", func(t *testing.T) {
		_, err := e.d.Apply(e.ctx, e.ref, e.op(drivers.OpCreateVM, "new", e.tlParams("ghost-node", 0, 0, nil)))
		wantErr(t, "create-vm", err, drivers.ErrNotFound, "vm/new")
	})
	t.Run("start-igvm-agent on an unknown node", func(t *testing.T) {
		_, err := e.d.Apply(e.ctx, e.ref, drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: e.ref.Name, Node: "ghost-node"})
		wantErr(t, "start-igvm-agent", err, drivers.ErrNotFound, "node/ghost-node")
	})
}

// testIdempotent: an op that asks for what is already so reports
// Changed=false and no error, also on a running VM, so that an interrupted
// apply can run its steps again.
func testIdempotent(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if e.wholeCreate() {
		idempotentWhole(e)
		return
	}
	n0 := e.node(0)
	e.createTL("off", n0)
	e.applyChanged(e.op(drivers.OpSetSecurity, "off", &drivers.Params{EncryptState: drivers.Bool(true)}))
	e.createTL("on", n0)
	e.applyChanged(e.op(drivers.OpStartVM, "on", nil))
	e.applyChanged(e.op(drivers.OpCreateVM, "notpm", &drivers.Params{Generation: 2, SecurityType: drivers.SecurityStandard, TargetNode: n0}))
	e.applyChanged(e.op(drivers.OpSetAnnotations, "on", &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "x"}}))
	e.applyChanged(drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: e.ref.Name})
	before := e.observe()
	cases := []drivers.Op{
		e.op(drivers.OpStopVM, "off", nil),
		e.op(drivers.OpStartVM, "on", nil),
		e.op(drivers.OpSetSecureBoot, "on", &drivers.Params{SecureBoot: drivers.Bool(true), SecureBootTemplate: "MicrosoftWindows"}),
		e.op(drivers.OpEnsureKeyProtector, "on", nil),
		e.op(drivers.OpEnableTPM, "on", nil),
		e.op(drivers.OpDisableTPM, "notpm", nil),
		e.op(drivers.OpSetSecurity, "off", &drivers.Params{EncryptState: drivers.Bool(true), VBSOptOut: drivers.Bool(false)}),
		e.op(drivers.OpSetSecurity, "on", &drivers.Params{VBSOptOut: drivers.Bool(false)}),
		e.op(drivers.OpSetProcessor, "on", &drivers.Params{Processors: 2}),
		e.op(drivers.OpSetMemory, "on", &drivers.Params{MemoryMB: 2048}),
		e.op(drivers.OpMoveVM, "on", &drivers.Params{TargetNode: n0}),
		e.op(drivers.OpSetAnnotations, "on", &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "x"}}),
		{Kind: drivers.OpStartIgvmAgent, Cluster: e.ref.Name, Node: n0},
		{Kind: drivers.OpEnableMigrationIPsec, Cluster: e.ref.Name},
	}
	for _, op := range cases {
		t.Run(fmt.Sprintf("%s %s%s", op.Kind, op.VM, op.Node), func(t *testing.T) {
			if res := e.apply(op); res.Changed {
				t.Errorf("Changed = true for a value it already had (message %q)", res.Message)
			}
		})
	}
	after := e.observe()
	for i := range before.VMs {
		if d := diffVM(after.VMs[i], before.VMs[i]); d != "" {
			t.Errorf("no-op ops changed VM %s:\n%s", before.VMs[i].Name, d)
		}
	}
}

// testOutsideProfile: an op the driver's profile does not list is refused
// with ErrNotSupported and changes nothing, so a plan made for another
// platform (or edited by hand) cannot half-run.
func testOutsideProfile(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.createTL("real", e.node(0))
	prof := drivers.ProfileOf(e.d)
	for _, k := range drivers.AllOps {
		if prof.Has(k) {
			continue
		}
		t.Run(string(k), func(t *testing.T) {
			op := e.op(k, "real", &drivers.Params{Processors: 2, MemoryMB: 2048})
			_, err := e.d.Apply(e.ctx, e.ref, op)
			wantErr(t, string(k)+" outside the "+prof.Name+" profile", err, drivers.ErrNotSupported, "vm/real")
		})
	}
}

// testMemoryWhileRunning: where the profile says memory changes without a
// stop (runtime memory resize), set-memory on a running VM takes and the VM
// keeps running; where it needs the VM Off, RuleViolations checks the refusal.
func testMemoryWhileRunning(t *testing.T, h Harness) {
	e := newEnv(t, h)
	if drivers.ProfileOf(e.d).NeedsOff(drivers.SettingMemory) {
		t.Skip("the profile changes memory only while the VM is Off")
	}
	e.createTL("grow", e.node(0))
	e.applyChanged(e.op(drivers.OpStartVM, "grow", nil))
	grow := e.op(drivers.OpSetMemory, "grow", &drivers.Params{MemoryMB: 4096})
	if drivers.ProfileOf(e.d).Has(drivers.OpSetHardware) {
		grow = e.op(drivers.OpSetHardware, "grow", &drivers.Params{Processors: e.vm("grow").Processors, MemoryMB: 4096})
	}
	e.applyChanged(grow)
	if v := e.vm("grow"); v.MemoryMB != 4096 || v.Power != drivers.PowerRunning {
		t.Errorf("after set-memory on a running VM: %d MB, %s; want 4096 MB, Running", v.MemoryMB, v.Power)
	}
}

// ruleCase is one refused op of testRules.
type ruleCase struct {
	name     string
	op       drivers.Op
	sentinel error
	contains string // in the message, besides the sentinel
}

// profileRuleCases are the refusals that depend on the platform's profile: the template of
// a VM whose vTPM was reset (where the template stays fixed once initialised), static memory
// of a running VM (where memory changes only while Off).
func profileRuleCases(e *env) []ruleCase {
	prof := drivers.ProfileOf(e.d)
	var out []ruleCase
	if prof.TemplateFixedOnceInitialised {
		out = append(out, ruleCase{"template after a vtpm reset", e.op(drivers.OpSetSecureBoot, "wasreset", &drivers.Params{SecureBootTemplate: "OpenSourceShieldedVM"}), drivers.ErrPrecondition, "template"})
	}
	if prof.NeedsOff(drivers.SettingMemory) {
		out = append(out, ruleCase{"static memory while running", e.op(drivers.OpSetMemory, "running", &drivers.Params{MemoryMB: 4096}), drivers.ErrInvalidState, "32775"})
	}
	return out
}
