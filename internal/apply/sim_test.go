package apply_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// simEnv is a desired-state folder plus a sim cluster in a temp state dir.
type simEnv struct {
	t        testing.TB
	dir      string // desired-state YAML
	cfg      drivers.Config
	reg      *drivers.Registry
	drv      *hvmodel.Driver
	accepted map[string]bool
}

const clusterYAML = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  driver: sim
  nodes: [node1, node2]
  liveMigration: {encryption: ipsec}
`

func vmYAML(name string, processors int, secureBoot bool) string {
	return fmt.Sprintf(`---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: %s, cluster: c1}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: %d
  memoryMB: 4096
  secureBoot: {enabled: %v, template: MicrosoftWindows}
  vtpm: {enabled: true}
  vbs: true
  encryptStateAndMigrationTraffic: true
  power: Running
`, name, processors, secureBoot)
}

func newSimEnv(t testing.TB) *simEnv {
	t.Helper()
	root := t.TempDir()
	e := &simEnv{t: t, dir: filepath.Join(root, "desired"), cfg: drivers.Config{StateDir: filepath.Join(root, "state")}}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.reg = drivers.NewRegistry()
	e.reg.Register(hvmodel.Name, hvmodel.Factory)
	d, err := hvmodel.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.drv = d
	return e
}

// write replaces the desired state with the cluster and the given VM documents.
func (e *simEnv) write(vms ...string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "desired.yaml"), []byte(clusterYAML+strings.Join(vms, "")), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *simEnv) plan(opts plan.Options) *plan.Plan {
	e.t.Helper()
	desired, diags := spec.Load(spec.LoadOptions{Paths: []string{e.dir}})
	if diags.HasErrors() {
		e.t.Fatalf("desired state: %v", diags)
	}
	var refs []drivers.ClusterRef
	for _, c := range desired.Clusters {
		refs = append(refs, plan.ClusterRef(c))
	}
	s, err := apply.Open(context.Background(), apply.SessionOptions{Registry: e.reg, Config: e.cfg, ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	obs, err := s.Observe(context.Background(), refs)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := plan.Build(desired, obs, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *simEnv) drivers() map[string]drivers.Driver { return map[string]drivers.Driver{"c1": e.drv} }

// converge applies until nothing is left to change, failing the test on any failure.
func (e *simEnv) converge() {
	e.t.Helper()
	p := e.plan(plan.Options{Accept: plan.Acceptances{Any: e.accepted}})
	if !p.HasChanges() {
		return
	}
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry})
	if err != nil {
		e.t.Fatalf("apply: %v\n%s", err, describe(rep))
	}
	if p := e.plan(plan.Options{}); p.HasChanges() {
		e.t.Fatalf("after apply the plan still has %d change(s): %s", len(p.Changes), p.Changes[0].Resource)
	}
}

func (e *simEnv) vm(name string) *drivers.VM {
	e.t.Helper()
	vm, err := e.drv.ObserveVM(context.Background(), drivers.ClusterRef{Name: "c1", Driver: hvmodel.Name, Nodes: []string{"node1", "node2"}}, name)
	if err != nil {
		e.t.Fatalf("observe vm/%s: %v", name, err)
	}
	return vm
}

func describe(rep *apply.Report) string {
	if rep == nil {
		return "(no report)"
	}
	var b strings.Builder
	for _, r := range rep.Resources {
		fmt.Fprintf(&b, "%s %s: %s power=%q\n", r.Resource, r.Status, r.Reason, r.Power)
	}
	return b.String()
}

func opsOf(p *plan.Plan) []drivers.OpKind {
	seen := map[drivers.OpKind]bool{}
	var out []drivers.OpKind
	for _, c := range p.Changes {
		for _, s := range c.Steps {
			if !seen[s.Kind] {
				seen[s.Kind] = true
				out = append(out, s.Kind)
			}
		}
	}
	return out
}

// driftedEnv: vm/a and vm/b converged, then vm/a's desired processors change
// (a stop→set→start window) and vm/c is new: a plan that stops a running VM
// and creates another, touching every op either needs.
func driftedEnv(t *testing.T) (*simEnv, *plan.Plan) {
	e := newSimEnv(t)
	e.write(vmYAML("a", 2, true), vmYAML("b", 2, true))
	e.converge()
	e.write(vmYAML("a", 4, true), vmYAML("b", 2, true), vmYAML("c", 2, true))
	return e, e.plan(plan.Options{})
}

func TestSimTransientEveryOpRetried(t *testing.T) {
	e, p := driftedEnv(t)
	ops := opsOf(p)
	for _, op := range ops {
		if err := e.drv.Inject("c1", hvmodel.Fault{Op: op, Fail: 1}); err != nil {
			t.Fatal(err)
		}
	}
	ev := &collect{}
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry, Events: ev.add})
	if err != nil {
		t.Fatalf("apply with one transient failure per op: %v\n%s", err, describe(rep))
	}
	retried := map[drivers.OpKind]bool{}
	for _, x := range ev.evs {
		if x.Kind == apply.EventStepRetrying {
			retried[x.Op] = true
		}
	}
	for _, op := range ops {
		if !retried[op] {
			t.Errorf("%s failed once but was not retried", op)
		}
	}
	if p := e.plan(plan.Options{}); p.HasChanges() {
		t.Errorf("not converged: %d change(s) left", len(p.Changes))
	}
}

func TestSimPermanentFailurePerOp(t *testing.T) {
	_, p0 := driftedEnv(t)
	for _, op := range opsOf(p0) {
		t.Run(string(op), func(t *testing.T) {
			e, p := driftedEnv(t)
			if err := e.drv.Inject("c1", hvmodel.Fault{Op: op, FailAlways: true}); err != nil {
				t.Fatal(err)
			}
			rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry})
			if err == nil {
				t.Fatalf("apply succeeded although every %s fails", op)
			}
			for _, c := range p.Changes {
				res := rep.Result(c.Resource)
				uses := false
				for _, s := range c.Steps {
					uses = uses || s.Kind == op
				}
				if uses != (res.Status == apply.StatusFailed) {
					t.Errorf("%s: %s (%s); it uses %s: %v", c.Resource, res.Status, res.Reason, op, uses)
				}
			}
			// vm/a was running and its plan stops it: it must be running again
			// unless the failed step is the start itself.
			a := rep.Result("vm/a")
			want, note := drivers.PowerRunning, ""
			switch op {
			case drivers.OpSetProcessor:
				note = "started again"
			case drivers.OpStartVM:
				want, note = drivers.PowerOff, "could not be started again"
			}
			if got := e.vm("a").Power; got != want {
				t.Errorf("vm/a is %s after %s failed, want %s (power note %q)", got, op, want, a.Power)
			}
			if !strings.HasPrefix(a.Power, note) || (note == "" && a.Power != "") {
				t.Errorf("vm/a power note %q, want %q", a.Power, note)
			}
			if b := e.vm("b"); b.Power != drivers.PowerRunning {
				t.Errorf("untouched vm/b is %s", b.Power)
			}
			// Clearing the fault and re-running converges.
			if err := e.drv.ClearFaults("c1"); err != nil {
				t.Fatal(err)
			}
			e.accepted = nil
			e.converge()
			if got := e.vm("a"); got.Power != drivers.PowerRunning || got.Processors != 4 {
				t.Errorf("after re-run vm/a is %s with %d processors", got.Power, got.Processors)
			}
		})
	}
}

func TestSimRecordsNewIdentity(t *testing.T) {
	e, p := driftedEnv(t)
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry})
	if err != nil {
		t.Fatalf("%v\n%s", err, describe(rep))
	}
	c := e.vm("c")
	if c.VTPMIdentity == "" || c.Annotations == nil || c.Annotations.VTPMIdentity != c.VTPMIdentity {
		t.Errorf("created vm/c: identity %q, annotations %+v; want the new identity recorded", c.VTPMIdentity, c.Annotations)
	}
	if got := rep.Result("vm/c").VTPMIdentity; got != c.VTPMIdentity {
		t.Errorf("report identity %q, want %q", got, c.VTPMIdentity)
	}
}

// TestSimSettingDidNotTake: someone resets vm/a's processors right after the
// plan set them; verification must fail the VM naming the field.
func TestSimSettingDidNotTake(t *testing.T) {
	e, p := driftedEnv(t)
	events := func(ev apply.Event) {
		if ev.Kind == apply.EventStepDone && ev.Resource == "vm/a" && ev.Op == drivers.OpSetProcessor {
			if err := e.drv.Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "processors", Value: "2"}}); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry, Events: events})
	if err == nil {
		t.Fatal("apply succeeded although vm/a's processors did not stay set")
	}
	a := rep.Result("vm/a")
	if a.Status != apply.StatusFailed || !strings.Contains(a.Reason, "processors is 2, want 4: the setting did not take") {
		t.Errorf("vm/a: %s (%s)", a.Status, a.Reason)
	}
	if c := rep.Result("vm/c"); c.Status != apply.StatusSucceeded {
		t.Errorf("vm/c: %s (%s)", c.Status, c.Reason)
	}
}

func TestSimUnsafeToStart(t *testing.T) {
	e := newSimEnv(t)
	e.write(vmYAML("a", 2, true))
	e.converge()
	if err := e.drv.Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "tpmEnabled", Value: "false"}}); err != nil {
		t.Fatal(err)
	}
	// The plan stops vm/a, enables its TPM and starts it; enable-tpm fails for good.
	if err := e.drv.Inject("c1", hvmodel.Fault{Op: drivers.OpEnableTPM, FailAlways: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := apply.Run(context.Background(), e.plan(plan.Options{}), e.drivers(), apply.Options{Retry: fastRetry})
	if err == nil {
		t.Fatal("apply succeeded although enable-tpm always fails")
	}
	a := rep.Result("vm/a")
	if !strings.HasPrefix(a.Power, "left Off: enable-tpm failed") {
		t.Errorf("power note %q, want it to say vm/a was left Off because enable-tpm failed", a.Power)
	}
	if got := e.vm("a").Power; got != drivers.PowerOff {
		t.Errorf("vm/a is %s, want Off: starting it could initialise the vTPM in an unintended state", got)
	}
	if err := e.drv.ClearFaults("c1"); err != nil {
		t.Fatal(err)
	}
	e.converge()
	if got := e.vm("a"); got.Power != drivers.PowerRunning || !got.TPMEnabled {
		t.Errorf("after re-run vm/a is %s, tpm %v", got.Power, got.TPMEnabled)
	}
}

// TestSimNoStopWhenStartCannotRun: vm/a runs on node1 whose IgvmAgent has
// stopped; its plan starts the agent (a cluster step), then stops vm/a for a
// processor change and starts it again, which needs the agent. When the agent
// start fails, vm/a must not be stopped at all: its start-vm could never run,
// and restoring power needs the agent too.
func TestSimNoStopWhenStartCannotRun(t *testing.T) {
	e := newSimEnv(t)
	e.write(vmYAML("a", 2, true))
	e.converge()
	if err := e.drv.SetAgent("c1", e.vm("a").Node, drivers.AgentStopped); err != nil {
		t.Fatal(err)
	}
	e.write(vmYAML("a", 4, true))
	p := e.plan(plan.Options{})
	if err := e.drv.Inject("c1", hvmodel.Fault{Op: drivers.OpStartIgvmAgent, FailAlways: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry})
	if err == nil {
		t.Fatal("apply succeeded although start-igvm-agent always fails")
	}
	if got := e.vm("a").Power; got != drivers.PowerRunning {
		t.Errorf("vm/a is %s after the agent start failed, want Running (never stopped)\n%s", got, describe(rep))
	}
	a := rep.Result("vm/a")
	if a.Status != apply.StatusSkipped || !strings.Contains(a.Reason, "start-igvm-agent") {
		t.Errorf("vm/a: %s (%s), want skipped naming the failed start-igvm-agent", a.Status, a.Reason)
	}
}

// TestSimUnreadableIdentityIsNotLost: vm/a's node lost its IgvmAgent, so its
// vTPM identity cannot be read there (""). A change that needs no agent (stop
// it and set its processors) must verify without claiming the vTPM was lost:
// an unreadable identity is unknown, as the planner treats it.
func TestSimUnreadableIdentityIsNotLost(t *testing.T) {
	e := newSimEnv(t)
	e.write(vmYAML("a", 2, true))
	e.converge()
	rec := e.vm("a").VTPMIdentity
	if err := e.drv.SetAgent("c1", e.vm("a").Node, drivers.AgentAbsent); err != nil {
		t.Fatal(err)
	}
	e.write(strings.Replace(vmYAML("a", 4, true), "power: Running", "power: Off", 1))
	p := e.plan(plan.Options{})
	for _, f := range p.Findings {
		if f.Rule == plan.RuleVTPMStateLost {
			t.Fatalf("the plan claims a lost vTPM: %s", f.Message)
		}
	}
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, describe(rep))
	}
	a := e.vm("a")
	if a.Power != drivers.PowerOff || a.Processors != 4 || a.Annotations.VTPMIdentity != rec {
		t.Errorf("vm/a: %s, %d processors, recorded identity %q; want Off, 4, %q kept", a.Power, a.Processors, a.Annotations.VTPMIdentity, rec)
	}
}

// TestSimNoStartBetweenResetAndTemplate: putting back a template changed on an
// initialised vTPM is stop → reset the vTPM → set-secure-boot → start. When set-secure-boot
// fails after the reset, starting vm/a would initialise the fresh vTPM with
// the old template and lock it in, so the next plan would need a second reset:
// vm/a stays Off, the report says why, and the re-run converges without
// another destructive step.
func TestSimNoStartBetweenResetAndTemplate(t *testing.T) {
	e := newSimEnv(t)
	e.write(vmYAML("a", 2, true))
	e.converge()
	// Changed outside tlreconcile on the initialised vTPM: the plan resets it to put the template back.
	if err := e.drv.Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "secureBootTemplate", Value: "MicrosoftUEFICertificateAuthority"}}); err != nil {
		t.Fatal(err)
	}
	p := e.plan(plan.Options{})
	if err := e.drv.Inject("c1", hvmodel.Fault{Op: drivers.OpSetSecureBoot, FailAlways: true}); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	j, err := apply.OpenJournal(state)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry, AllowDestructive: true, Journal: j})
	if err == nil {
		t.Fatal("apply succeeded although set-secure-boot always fails")
	}
	if got := e.vm("a"); got.Power != drivers.PowerOff || got.VTPMInitialized {
		t.Errorf("vm/a is %s, vTPM initialised %v; want Off and not initialised\n%s", got.Power, got.VTPMInitialized, describe(rep))
	}
	if a := rep.Result("vm/a"); !strings.HasPrefix(a.Power, "left Off") {
		t.Errorf("power note %q, want it to say why vm/a was left Off", a.Power)
	}
	if err := e.drv.ClearFaults("c1"); err != nil {
		t.Fatal(err)
	}
	entries, err := apply.ReadJournalFile(state)
	if err != nil {
		t.Fatal(err)
	}
	e.accepted = apply.AcceptedIdentityChanges(entries)
	again := e.plan(plan.Options{Accept: plan.Acceptances{Any: e.accepted}})
	for _, c := range again.Changes {
		for _, s := range c.Steps {
			if s.Destructive {
				t.Errorf("the re-run plans %s again: the reset already done is repeated", s.ID)
			}
		}
	}
	e.converge()
}

// TestSimJournaledIdentityNarrowsAcceptance: a planned identity change on the
// real sim driver (enable-tpm, key-protector reset) completes and the run then
// fails before set-annotations. The journal holds the identity vm/a had right
// after the step; the re-run's planner accepts that identity and no other: a
// vTPM lost afterwards (a failover without state transfer) is reported as
// vtpm-state-lost instead of being recorded, while a journal that only knows
// the step was pending (the process died during it) still accepts any.
func TestSimJournaledIdentityNarrowsAcceptance(t *testing.T) {
	tests := []struct {
		name  string
		op    drivers.OpKind
		drift func(t *testing.T, e *simEnv) // makes the plan change vm/a's identity
	}{
		{"enable-tpm", drivers.OpEnableTPM, func(t *testing.T, e *simEnv) {
			// The vTPM was disabled behind tlreconcile's back and its state
			// reset, so enabling it again gives a new identity.
			if err := e.drv.Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "tpmEnabled", Value: "false"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.drv.Failover(context.Background(), "c1", "a", e.vm("a").Node, true); err != nil {
				t.Fatal(err)
			}
		}},
		{"key-protector reset", drivers.OpEnsureKeyProtector, func(t *testing.T, e *simEnv) {
			if err := e.drv.Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "secureBootTemplate", Value: "MicrosoftUEFICertificateAuthority"}}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	lostIn := func(p *plan.Plan) bool {
		for _, f := range p.Findings {
			if f.Rule == plan.RuleVTPMStateLost && f.Resource == "vm/a" {
				return true
			}
		}
		return false
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSimEnv(t)
			e.write(vmYAML("a", 2, true))
			e.converge()
			rec := e.vm("a").VTPMIdentity
			tt.drift(t, e)
			p := e.plan(plan.Options{})
			if !slicesContains(opsOf(p), tt.op) {
				t.Fatalf("the plan has no %s: %v", tt.op, opsOf(p))
			}
			if err := e.drv.Inject("c1", hvmodel.Fault{Op: drivers.OpSetAnnotations, FailAlways: true}); err != nil {
				t.Fatal(err)
			}
			state := t.TempDir()
			j, err := apply.OpenJournal(state)
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if rep, err := apply.Run(context.Background(), p, e.drivers(), apply.Options{Retry: fastRetry, AllowDestructive: true, Journal: j}); err == nil {
				t.Fatalf("apply succeeded although set-annotations always fails\n%s", describe(rep))
			}
			if err := e.drv.ClearFaults("c1"); err != nil {
				t.Fatal(err)
			}
			entries, err := apply.ReadJournalFile(state)
			if err != nil {
				t.Fatal(err)
			}
			newID := e.vm("a").VTPMIdentity
			if newID == "" || newID == rec {
				t.Fatalf("vm/a's identity after %s is %q, recorded %q: want a new one", tt.op, newID, rec)
			}
			var pendingOnly []apply.Entry
			found := false
			for _, en := range entries {
				if en.Op == tt.op && en.IdentityChange && !en.Pending {
					found = true
					if en.NewIdentity != newID {
						t.Errorf("journal entry %s records identity %q, want %q (what vm/a has now)", en.Step, en.NewIdentity, newID)
					}
					continue
				}
				pendingOnly = append(pendingOnly, en)
			}
			if !found {
				t.Fatalf("no completed %s in the journal: %+v", tt.op, entries)
			}
			opts := func(entries []apply.Entry) plan.Options {
				return plan.Options{Accept: apply.JournalAcceptances(entries)}
			}

			// The identity the planned step produced is accepted and recorded.
			again := e.plan(opts(entries))
			if lostIn(again) {
				t.Fatalf("the journaled identity is reported lost: %+v", again.Findings)
			}
			if s := findStepOf(again, "vm/a", drivers.OpSetAnnotations); s == nil || s.Params.Annotations.VTPMIdentity != newID {
				t.Fatalf("the re-run does not record the journaled identity %s: %+v", newID, s)
			}

			// Then the vTPM is lost before the re-run: only the journaled
			// identity is accepted, so the loss is reported.
			to := "node1"
			if e.vm("a").Node == to {
				to = "node2"
			}
			if _, err := e.drv.Failover(context.Background(), "c1", "a", to, true); err != nil {
				t.Fatal(err)
			}
			if cur := e.vm("a").VTPMIdentity; cur == "" || cur == newID {
				t.Fatalf("the failover kept the identity %q", cur)
			}
			lost := e.plan(opts(entries))
			if !lostIn(lost) {
				t.Errorf("a vTPM lost after the journaled %s is not reported: findings %+v", tt.op, lost.Findings)
			}
			if s := findStepOf(lost, "vm/a", drivers.OpSetAnnotations); s != nil && s.Params.Annotations.VTPMIdentity != rec {
				t.Errorf("the plan records identity %s over the last verified %s", s.Params.Annotations.VTPMIdentity, rec)
			}
			// Had the process died during the step (pending entry only), the
			// identity it produced is unknown: any is accepted, as before.
			if ids := apply.AcceptedIdentities(pendingOnly); len(ids) != 0 {
				t.Fatalf("pending entries narrow to %v", ids)
			}
			if p := e.plan(opts(pendingOnly)); lostIn(p) {
				t.Errorf("with only the pending entry the new identity is reported lost: %+v", p.Findings)
			}
		})
	}
}

func slicesContains(xs []drivers.OpKind, x drivers.OpKind) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// findStepOf is the first step of resource res with op kind, or nil.
func findStepOf(p *plan.Plan, res string, kind drivers.OpKind) *plan.Step {
	for i := range p.Changes {
		if p.Changes[i].Resource != res {
			continue
		}
		for j := range p.Changes[i].Steps {
			if p.Changes[i].Steps[j].Kind == kind {
				return &p.Changes[i].Steps[j]
			}
		}
	}
	return nil
}
