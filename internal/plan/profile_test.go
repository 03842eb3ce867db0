package plan_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// azureLocalObserved is observedOf on a platform with the Azure Local profile.
func azureLocalObserved(vms ...drivers.VM) map[string]*drivers.Observed {
	o := observedOf(healthyNodes(), vms...)
	o["c1"].Profile = drivers.AzureLocal()
	return o
}

// onAzureLocal is what an Azure Local VM looks like when it matches d: no
// key protector, no state-encryption or VBS settings (the platform has none).
func onAzureLocal(d spec.VM, mut ...func(*drivers.VM)) drivers.VM {
	return synced(d, "node1", "ek1", append([]func(*drivers.VM){func(o *drivers.VM) {
		o.KeyProtector, o.EncryptState, o.VBSOptOut = false, false, false
	}}, mut...)...)
}

func kinds(ch plan.Change) string {
	var k []string
	for _, s := range ch.Steps {
		k = append(k, string(s.Kind))
	}
	return strings.Join(k, " ")
}

// TestAzureLocalProfile: on the Azure Local profile the security profile
// travels with create-vm and no key-protector or TPM step exists; a change of
// Secure Boot (to off) or of the vTPM is a guarded replace; Secure Boot found
// off is switched back on in place; CPU and memory change in one set-hardware,
// Off only for the processor count.
func TestAzureLocalProfile(t *testing.T) {
	base := vmSpec("a")
	for _, tt := range []struct {
		name     string
		d        spec.VM
		o        []drivers.VM
		action   plan.Action
		steps    string
		reason   string // in the change's reasons
		blocked  bool   // some step blocked
		destruct bool   // some step destructive
	}{
		{name: "create", d: base, action: plan.ActionCreate, steps: "create-vm set-annotations"},
		{name: "create Off", d: vmSpec("a", func(v *spec.VM) { v.Power = spec.PowerOff }), action: plan.ActionCreate,
			steps: "create-vm stop-vm set-annotations"},
		{name: "vtpm to disabled is a replace", d: vmSpec("a", func(v *spec.VM) { v.VTPM.Enabled = false }),
			o: []drivers.VM{onAzureLocal(base)}, action: plan.ActionReplace, steps: "stop-vm delete-vm create-vm set-annotations",
			reason: "vtpm is enabled, want disabled: the azure-local profile fixes it when the VM is created", destruct: true},
		{name: "secure boot to off is a replace", d: vmSpec("a", func(v *spec.VM) { v.SecureBoot = spec.SecureBoot{} }),
			o: []drivers.VM{onAzureLocal(base)}, action: plan.ActionReplace, steps: "stop-vm delete-vm create-vm set-annotations",
			reason: "secureBoot is On, want Off", destruct: true},
		{name: "secure boot found off is switched back on", d: base,
			o:      []drivers.VM{onAzureLocal(base, func(o *drivers.VM) { o.SecureBoot = false })},
			action: plan.ActionUpdate, steps: "stop-vm set-secure-boot start-vm set-annotations", reason: "secureBoot is off, want on"},
		{name: "the template is the platform's, not compared", d: base,
			o: []drivers.VM{onAzureLocal(base, func(o *drivers.VM) { o.SecureBootTemplate = spec.TemplateMicrosoftUEFICA })}},
		{name: "processors need the VM Off", d: vmSpec("a", func(v *spec.VM) { v.Processors = 8 }),
			o: []drivers.VM{onAzureLocal(base)}, action: plan.ActionUpdate, steps: "stop-vm set-hardware start-vm set-annotations",
			reason: "processors is 4, want 8"},
		{name: "memory changes while running", d: vmSpec("a", func(v *spec.VM) { v.MemoryMB = 16384 }),
			o: []drivers.VM{onAzureLocal(base)}, action: plan.ActionUpdate, steps: "set-hardware set-annotations",
			reason: "memoryMB is 8192, want 16384"},
		{name: "a protected VM's replace is blocked", d: vmSpec("a", func(v *spec.VM) { v.VTPM.Enabled = false; v.Protect = true }),
			o: []drivers.VM{onAzureLocal(vmSpec("a", func(v *spec.VM) { v.Protect = true }))}, action: plan.ActionReplace,
			steps: "stop-vm delete-vm create-vm set-annotations", reason: "vtpm is enabled, want disabled", destruct: true, blocked: true},
		{name: "in sync", d: base, o: []drivers.VM{onAzureLocal(base)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustBuild(t, desiredOf(clusterSpec(), tt.d), azureLocalObserved(tt.o...), plan.Options{})
			if tt.action == "" {
				if len(p.Changes) != 0 {
					t.Fatalf("want no change, got:\n%s", render(p))
				}
				return
			}
			if len(p.Changes) != 1 {
				t.Fatalf("want one change, got:\n%s", render(p))
			}
			ch := p.Changes[0]
			if ch.Action != tt.action || kinds(ch) != tt.steps {
				t.Fatalf("got %s [%s], want %s [%s]\n%s", ch.Action, kinds(ch), tt.action, tt.steps, render(p))
			}
			if tt.reason != "" && !strings.Contains(strings.Join(ch.Reasons, "\n"), tt.reason) {
				t.Errorf("reasons %q do not say %q", ch.Reasons, tt.reason)
			}
			var blocked, destruct bool
			for _, s := range ch.Steps {
				blocked = blocked || s.Blocked != nil
				destruct = destruct || s.Destructive
				if s.Kind == drivers.OpEnsureKeyProtector || s.Kind == drivers.OpEnableTPM || s.Kind == drivers.OpDisableTPM || s.Kind == drivers.OpSetSecurity {
					t.Errorf("step %s: the Azure Local profile has no %s", s.ID, s.Kind)
				}
			}
			if blocked != tt.blocked || destruct != tt.destruct {
				t.Errorf("blocked=%v destructive=%v, want %v %v\n%s", blocked, destruct, tt.blocked, tt.destruct, render(p))
			}
			if err := plan.Validate(p); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestAzureLocalCreateCarriesTheSecurityProfile: one create-vm whose
// parameters carry security type, Secure Boot and vTPM (issue 11's
// acceptance), and the identity it creates is recorded.
func TestAzureLocalCreateCarriesTheSecurityProfile(t *testing.T) {
	p := mustBuild(t, desiredOf(clusterSpec(), vmSpec("a")), azureLocalObserved(), plan.Options{})
	create := findStep(p, "vm/a/create-vm")
	if create == nil {
		t.Fatalf("no create-vm:\n%s", render(p))
	}
	pr := create.Params
	if pr.SecurityType != spec.SecurityTrustedLaunch || pr.SecureBoot == nil || !*pr.SecureBoot || pr.VTPM == nil || !*pr.VTPM ||
		pr.SecureBootTemplate != "" || pr.Annotations == nil {
		t.Fatalf("create-vm params: %+v", pr)
	}
	if !create.ChangesIdentity {
		t.Error("create-vm does not say it changes the identity")
	}
	if rec := findStep(p, "vm/a/set-annotations"); rec == nil || !rec.RecordsIdentity {
		t.Errorf("set-annotations does not record the new identity: %+v", rec)
	}
}

// TestClassicProfileIsTheDefault: an observation without a profile plans
// like the classic Hyper-V profile, step for step.
func TestClassicProfileIsTheDefault(t *testing.T) {
	d := desiredOf(clusterSpec(), vmSpec("a"), vmSpec("b", func(v *spec.VM) { v.Processors = 8 }))
	o := []drivers.VM{synced(vmSpec("b"), "node2", "ek2")}
	none := mustBuild(t, d, observedOf(healthyNodes(), o...), plan.Options{})
	withClassic := observedOf(healthyNodes(), o...)
	withClassic["c1"].Profile = drivers.ClassicHyperV()
	classic := mustBuild(t, d, withClassic, plan.Options{})
	if render(none) != render(classic) {
		t.Fatalf("zero profile:\n%s\nclassic:\n%s", render(none), render(classic))
	}
	if !strings.Contains(render(none), "set-processor") || !strings.Contains(render(none), "ensure-key-protector") {
		t.Fatalf("the classic plan lost its Hyper-V steps:\n%s", render(none))
	}
}

// TestNodeAgentBlocksTrustedLaunch: a node whose MOC node agent (wssdagent)
// does not run cannot take a trusted-launch VM: a create placed there is
// blocked, one the platform places goes ahead while some node can take it
// (create-vm then names no node: Azure Local picks), and none can when every
// node agent is stopped.
func TestNodeAgentBlocksTrustedLaunch(t *testing.T) {
	for _, tt := range []struct {
		name      string
		stopped   []string
		placement string
		blocked   bool
	}{
		{"placed on the node whose agent is stopped", []string{"node1"}, "node1", true},
		{"placed on another node", []string{"node1"}, "node2", false},
		{"placed by the platform", []string{"node1"}, "", false},
		{"every agent stopped", []string{"node1", "node2", "node3"}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obs := azureLocalObserved()
			for i := range obs["c1"].Nodes {
				n := &obs["c1"].Nodes[i]
				n.NodeAgent = drivers.AgentRunning
				for _, s := range tt.stopped {
					if n.Name == s {
						n.NodeAgent = drivers.AgentStopped
					}
				}
			}
			d := vmSpec("a", func(v *spec.VM) { v.Placement.Node = tt.placement })
			p := mustBuild(t, desiredOf(clusterSpec(), d), obs, plan.Options{})
			create := findStep(p, "vm/a/create-vm")
			switch {
			case tt.blocked && (create.Blocked == nil || !strings.Contains(create.Blocked.Reason, "wssdagent")):
				t.Fatalf("create not blocked by the node agent: %+v", create.Blocked)
			case !tt.blocked && (create.Blocked != nil || create.Params.TargetNode != tt.placement):
				t.Fatalf("create: blocked %+v, target %q, want %q", create.Blocked, create.Params.TargetNode, tt.placement)
			}
		})
	}
}

// TestGracefulStopIsExplained: on a platform whose stop is a guest shutdown
// (Windows Server Hyper-V) every stop-vm says what happens when the guest
// does not shut down, and how --allow-force-stop changes it; elsewhere not.
func TestGracefulStopIsExplained(t *testing.T) {
	d := desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Processors = 8 }))
	for _, tc := range []struct {
		graceful bool
	}{{true}, {false}} {
		obs := observedOf(healthyNodes(), synced(vmSpec("a"), "node1", "ek1"))
		prof := drivers.ClassicHyperV()
		prof.GracefulStop = tc.graceful
		obs["c1"].Profile = prof
		p := mustBuild(t, d, obs, plan.Options{})
		stop := findStep(p, "vm/a/stop-vm")
		if stop == nil {
			t.Fatalf("no stop-vm:\n%s", render(p))
		}
		if got := strings.Contains(stop.Reason, "--allow-force-stop"); got != tc.graceful {
			t.Errorf("graceful=%v: stop-vm reason %q", tc.graceful, stop.Reason)
		}
	}
}
