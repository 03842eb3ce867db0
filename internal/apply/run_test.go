package apply_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

var fastRetry = apply.Retry{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}

// collect gathers events; the executor promises to call it serially, and -race checks that.
type collect struct{ evs []apply.Event }

func (c *collect) add(e apply.Event) { c.evs = append(c.evs, e) }

func (c *collect) kinds(resource string) string {
	var out []string
	for _, e := range c.evs {
		if e.Resource == resource {
			out = append(out, string(e.Kind)+" "+e.StepID)
		}
	}
	return strings.Join(out, "\n")
}

func run(t *testing.T, p *plan.Plan, d drivers.Driver, o apply.Options) (*apply.Report, *collect, error) {
	t.Helper()
	ev := &collect{}
	o.Events = ev.add
	if o.Retry == (apply.Retry{}) {
		o.Retry = fastRetry
	}
	rep, err := apply.Run(context.Background(), p, map[string]drivers.Driver{"c1": d}, o)
	return rep, ev, err
}

func TestRunOrder(t *testing.T) {
	p := updatePlan("b", "a")
	// Steps listed out of order must still run in depends_on order.
	c := &p.Changes[0]
	c.Steps[0], c.Steps[3] = c.Steps[3], c.Steps[0]
	// A node change goes first even though it is listed last.
	p.Changes = append(p.Changes, plan.Change{Resource: "node/node1", Cluster: "c1", Action: plan.ActionUpdate,
		Steps: []plan.Step{{ID: "start-igvm-agent", Op: drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: "c1", Node: "node1"}, DependsOn: []string{}}}})
	d := newRec(runningVM("a"), runningVM("b"))
	rep, _, err := run(t, p, d, apply.Options{Parallelism: 1})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := `start-igvm-agent node1
stop-vm b
set-secure-boot b
ensure-key-protector b
enable-tpm b
start-vm b
set-annotations b
stop-vm a
set-secure-boot a
ensure-key-protector a
enable-tpm a
start-vm a
set-annotations a`
	if got := d.ops(); got != want {
		t.Errorf("order:\n%s\nwant:\n%s", got, want)
	}
	if rep.Counts != (apply.Counts{Succeeded: 3}) {
		t.Errorf("counts %+v, want 3 succeeded", rep.Counts)
	}
	for _, r := range rep.Resources {
		if r.Resource == "vm/a" && r.VTPMIdentity != "id-a" {
			t.Errorf("vm/a verified identity %q, want id-a", r.VTPMIdentity)
		}
	}
}

func TestRunRefusesBeforeAnyStep(t *testing.T) {
	cycle := updatePlan("a")
	cycle.Changes[0].Steps[0].DependsOn = []string{"vm/a/set-annotations"}
	unknown := updatePlan("a")
	unknown.Changes[0].Steps[1].Kind = "format-disk"
	dangling := updatePlan("a")
	dangling.Changes[0].Steps[2].DependsOn = []string{"nope"}
	destructive := updatePlan("a", "b")
	destructive.Changes[1].Steps[2].Destructive = true
	destructive.Changes[1].Steps[2].Params = &drivers.Params{Reset: true}
	// A plan file edited (or written by another tool) to drop the destructive
	// flag: the op itself says what it destroys.
	unflaggedReset := updatePlan("a")
	unflaggedReset.Changes[0].Steps[2].Params = &drivers.Params{Reset: true}
	unflaggedDisable := updatePlan("a")
	unflaggedDisable.Changes[0].Steps[3].Kind = drivers.OpDisableTPM
	unflaggedDelete := updatePlan("a")
	unflaggedDelete.Changes[0].Steps[5] = step("delete-vm", drivers.OpDeleteVM, "a", "start-vm")
	unflaggedDelete.Changes[0].Steps[5].Destructive = false
	// A step of vm/a's change that acts on vm/b: the checks of vm/a (protect,
	// power restore, verify) would not cover the VM the op changes.
	otherVM := updatePlan("a")
	otherVM.Changes[0].Steps[3].VM = "b"
	otherCluster := updatePlan("a")
	otherCluster.Changes[0].Steps[3].Cluster = "c2"

	tests := []struct {
		name string
		p    *plan.Plan
		want string
		as   any
	}{
		{"cycle", cycle, "steps depend on each other in a cycle (vm/a/enable-tpm -> vm/a/ensure-key-protector", new(*apply.PlanError)},
		{"unknown op", unknown, `vm/a: step vm/a/set-secure-boot: unknown op "format-disk"`, new(*apply.PlanError)},
		{"dangling dependency", dangling, `step vm/a/ensure-key-protector depends on unknown step nope`, new(*apply.PlanError)},
		{"destructive without allow", destructive, "vm/b/ensure-key-protector is destructive: nothing was applied; re-run with --allow-destructive", new(*apply.DestructiveError)},
		{"key protector reset not flagged", unflaggedReset, "step vm/a/ensure-key-protector: ensure-key-protector destroys the vTPM or the VM but is not marked destructive", new(*apply.PlanError)},
		{"disable-tpm not flagged", unflaggedDisable, "step vm/a/enable-tpm: disable-tpm destroys the vTPM or the VM but is not marked destructive", new(*apply.PlanError)},
		{"delete-vm not flagged", unflaggedDelete, "step vm/a/delete-vm: delete-vm destroys the vTPM or the VM but is not marked destructive", new(*apply.PlanError)},
		{"step acts on another VM", otherVM, `vm/a: step vm/a/enable-tpm: acts on vm/b of cluster "c1", not on vm/a of cluster "c1"`, new(*apply.PlanError)},
		{"step acts on another cluster", otherCluster, `vm/a: step vm/a/enable-tpm: acts on vm/a of cluster "c2", not on vm/a of cluster "c1"`, new(*apply.PlanError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRec(runningVM("a"), runningVM("b"))
			rep, ev, err := run(t, tt.p, d, apply.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			switch as := tt.as.(type) {
			case **apply.PlanError:
				if !errors.As(err, as) {
					t.Errorf("err %T is not a *PlanError", err)
				}
			case **apply.DestructiveError:
				if !errors.As(err, as) {
					t.Errorf("err %T is not a *DestructiveError", err)
				}
			}
			if rep != nil || d.ops() != "" || len(ev.evs) != 0 {
				t.Errorf("something ran: report %v, ops %q, %d events", rep, d.ops(), len(ev.evs))
			}
		})
	}
}

func TestRunDestructiveAllowed(t *testing.T) {
	p := resetPlan("a")
	d := newRec(runningVM("a"))
	rep, _, err := run(t, p, d, apply.Options{AllowDestructive: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// apply filled in the new identity from an observation before set-annotations.
	if got := d.vms["a"].Annotations.VTPMIdentity; got != "id-a-reset" {
		t.Errorf("annotations record identity %q, want the new one id-a-reset", got)
	}
	if got := rep.Resources[0].VTPMIdentity; got != "id-a-reset" {
		t.Errorf("report identity %q, want id-a-reset", got)
	}
}

func TestRunBlockedChangeNeverRuns(t *testing.T) {
	p := updatePlan("a", "b")
	p.Changes[0].Steps[3].Blocked = &plan.Blocked{Code: plan.BlockProtected, Reason: "vm/a is protected: set protect: false and apply that first"}
	p.Changes[0].Steps[3].Destructive = true // blocked destructive steps do not trip the guard
	d := newRec(runningVM("a"), runningVM("b"))
	rep, _, err := run(t, p, d, apply.Options{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	a := rep.Result("vm/a")
	if a.Status != apply.StatusBlocked || !strings.Contains(a.Reason, "protected") {
		t.Errorf("vm/a: %s (%s), want blocked naming the reason", a.Status, a.Reason)
	}
	if strings.Contains(d.ops(), " a\n") || strings.HasSuffix(d.ops(), " a") {
		t.Errorf("a step of blocked vm/a ran:\n%s", d.ops())
	}
	if b := rep.Result("vm/b"); b.Status != apply.StatusSucceeded {
		t.Errorf("vm/b: %s (%s), want succeeded", b.Status, b.Reason)
	}
}

func TestRunTransientRetried(t *testing.T) {
	for _, op := range []drivers.OpKind{drivers.OpStopVM, drivers.OpSetSecureBoot, drivers.OpEnsureKeyProtector, drivers.OpEnableTPM, drivers.OpStartVM, drivers.OpSetAnnotations} {
		t.Run(string(op), func(t *testing.T) {
			d := newRec(runningVM("a"))
			d.fail[string(op)] = 2
			rep, ev, err := run(t, updatePlan("a"), d, apply.Options{})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var retries int
			for _, e := range ev.evs {
				if e.Kind == apply.EventStepRetrying && e.Op == op {
					retries++
				}
			}
			if retries != 2 {
				t.Errorf("%d retrying events for %s, want 2", retries, op)
			}
			for _, s := range rep.Resources[0].Steps {
				if s.Op == op && s.Attempts != 3 {
					t.Errorf("%s attempts %d, want 3", op, s.Attempts)
				}
			}
		})
	}
}

func TestRunTransientGivesUp(t *testing.T) {
	d := newRec(runningVM("a"))
	d.fail["set-secure-boot"] = -1
	rep, _, err := run(t, updatePlan("a"), d, apply.Options{})
	if err == nil {
		t.Fatal("Run succeeded with a step that always fails")
	}
	a := rep.Result("vm/a")
	if !strings.Contains(a.Reason, "gave up after 3 attempts") {
		t.Errorf("reason %q does not say it gave up after 3 attempts", a.Reason)
	}
}

func TestRunPowerSafety(t *testing.T) {
	tests := []struct {
		failOp    drivers.OpKind
		wantPower drivers.PowerState
		wantNote  string
	}{
		{drivers.OpSetSecureBoot, drivers.PowerRunning, "started again"},
		{drivers.OpEnsureKeyProtector, drivers.PowerOff, "left Off: ensure-key-protector failed"},
		{drivers.OpEnableTPM, drivers.PowerOff, "left Off: enable-tpm failed"},
		{drivers.OpStartVM, drivers.PowerOff, "could not be started again"},
		{drivers.OpStopVM, drivers.PowerRunning, ""}, // never stopped: nothing to restore
	}
	for _, tt := range tests {
		t.Run(string(tt.failOp), func(t *testing.T) {
			d := newRec(runningVM("a"), runningVM("b"))
			d.fail[string(tt.failOp)+" a"] = -1
			d.perm[string(tt.failOp)+" a"] = true
			rep, _, err := run(t, updatePlan("a", "b"), d, apply.Options{})
			var re *apply.RunError
			if !errors.As(err, &re) || len(re.Failed) != 1 || re.Failed[0] != "vm/a" {
				t.Fatalf("err = %v, want a RunError naming vm/a only", err)
			}
			a := rep.Result("vm/a")
			if a.Status != apply.StatusFailed || !strings.Contains(a.Reason, "vm/a: "+string(tt.failOp)) {
				t.Errorf("vm/a: %s (%s), want failed naming the op", a.Status, a.Reason)
			}
			if got := d.vms["a"].Power; got != tt.wantPower {
				t.Errorf("vm/a power %s, want %s", got, tt.wantPower)
			}
			if !strings.Contains(a.Power, tt.wantNote) || (tt.wantNote == "" && a.Power != "") {
				t.Errorf("power note %q, want %q", a.Power, tt.wantNote)
			}
			for _, s := range a.Steps {
				if s.Status == apply.StatusSkipped && s.Attempts != 0 {
					t.Errorf("skipped step %s has %d attempts", s.ID, s.Attempts)
				}
			}
			if b := rep.Result("vm/b"); b.Status != apply.StatusSucceeded || d.vms["b"].Power != drivers.PowerRunning {
				t.Errorf("unrelated vm/b: %s (%s), power %s; want succeeded and running", b.Status, b.Reason, d.vms["b"].Power)
			}
		})
	}
}

func TestRunVerifyMismatch(t *testing.T) {
	d := newRec(runningVM("a"))
	d.ignore["set-secure-boot a"] = true // reports success, changes nothing
	rep, ev, err := run(t, updatePlan("a"), d, apply.Options{})
	if err == nil {
		t.Fatal("Run succeeded although Secure Boot did not take")
	}
	a := rep.Result("vm/a")
	for _, want := range []string{"secure_boot is false, want true: the setting did not take", "secure_boot_template is , want MicrosoftWindows"} {
		if !strings.Contains(a.Reason, want) {
			t.Errorf("reason %q lacks %q", a.Reason, want)
		}
	}
	if !strings.Contains(ev.kinds("vm/a"), "verify-failed") {
		t.Errorf("no verify-failed event:\n%s", ev.kinds("vm/a"))
	}
}

func TestRunVTPMLost(t *testing.T) {
	d := newRec(runningVM("a"))
	d.vms["a"].VTPMIdentity = "id-someone-else"
	rep, _, _ := run(t, updatePlan("a"), d, apply.Options{})
	if a := rep.Result("vm/a"); a.Status != apply.StatusFailed || !strings.Contains(a.Reason, "vTPM state lost") {
		t.Errorf("vm/a: %s (%s), want failed with vTPM state lost", a.Status, a.Reason)
	}
}

func TestRunDependencyOnFailedClusterStep(t *testing.T) {
	p := updatePlan("a", "b")
	p.Changes = append([]plan.Change{{Resource: "node/node1", Cluster: "c1", Action: plan.ActionUpdate,
		Steps: []plan.Step{{ID: "node1/start-igvm-agent", Op: drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: "c1", Node: "node1"}, DependsOn: []string{}}}}}, p.Changes...)
	p.Changes[1].Steps[0].DependsOn = []string{"node1/start-igvm-agent"}
	d := newRec(runningVM("a"), runningVM("b"))
	d.fail["start-igvm-agent"] = -1
	d.perm["start-igvm-agent"] = true
	rep, _, err := run(t, p, d, apply.Options{})
	if err == nil {
		t.Fatal("Run succeeded with a failed node step")
	}
	if a := rep.Result("vm/a"); a.Status != apply.StatusSkipped || !strings.Contains(a.Reason, "node1/start-igvm-agent") {
		t.Errorf("vm/a: %s (%s), want skipped naming the failed dependency", a.Status, a.Reason)
	}
	if b := rep.Result("vm/b"); b.Status != apply.StatusSucceeded {
		t.Errorf("vm/b: %s (%s), want succeeded", b.Status, b.Reason)
	}
}

func TestRunParallelism(t *testing.T) {
	for _, par := range []int{1, 3} {
		t.Run("", func(t *testing.T) {
			names := []string{"a", "b", "c", "d", "e", "f"}
			var vms []drivers.VM
			for _, n := range names {
				vms = append(vms, runningVM(n))
			}
			d := newRec(vms...)
			d.latency = 2 * time.Millisecond
			if _, _, err := run(t, updatePlan(names...), d, apply.Options{Parallelism: par}); err != nil {
				t.Fatal(err)
			}
			if d.maxRunning != par {
				t.Errorf("at most %d ops ran at once, want exactly parallelism %d", d.maxRunning, par)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	d := newRec(runningVM("a"), runningVM("b"))
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	ev := &collect{}
	opts := apply.Options{Parallelism: 1, Retry: fastRetry, Events: func(e apply.Event) {
		ev.add(e)
		// Interrupt while vm/a's set-secure-boot is running: it must finish,
		// nothing after it may start, and vm/a must be started again.
		if e.Kind == apply.EventStepStarted && e.Op == drivers.OpSetSecureBoot {
			once.Do(cancel)
		}
	}}
	rep, err := apply.Run(ctx, updatePlan("a", "b"), map[string]drivers.Driver{"c1": d}, opts)
	var re *apply.RunError
	if !errors.As(err, &re) || !re.Cancelled {
		t.Fatalf("err = %v, want a cancelled RunError", err)
	}
	if want := "stop-vm a\nset-secure-boot a\nstart-vm a"; d.ops() != want {
		t.Errorf("ops after cancel:\n%s\nwant:\n%s", d.ops(), want)
	}
	a, b := rep.Result("vm/a"), rep.Result("vm/b")
	if a.Status != apply.StatusFailed || !strings.Contains(a.Reason, "after 2 of 6 steps") || !strings.Contains(a.Power, "started again") {
		t.Errorf("vm/a: %s (%s) power %q", a.Status, a.Reason, a.Power)
	}
	if b.Status != apply.StatusSkipped {
		t.Errorf("vm/b: %s (%s), want skipped", b.Status, b.Reason)
	}
	if !rep.Cancelled || !rep.Failed() {
		t.Errorf("report cancelled=%v failed=%v, want both", rep.Cancelled, rep.Failed())
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    apply.Options
		want string
	}{
		{"zero is fine", apply.Options{}, ""},
		{"negative parallelism", apply.Options{Parallelism: -1}, "parallelism -1"},
		{"base above max", apply.Options{Retry: apply.Retry{Base: time.Second, Max: time.Millisecond}}, "retry base 1s is above retry max 1ms"},
		{"negative attempts", apply.Options{Retry: apply.Retry{Attempts: -2}}, "retry attempts -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRunPowerAfterReset: a VM stopped for a vTPM reset stays Off after a
// failure only while the set-secure-boot planned after the reset has not run;
// a reset with no template step after it is restarted as usual.
func TestRunPowerAfterReset(t *testing.T) {
	resetFirst := func() *plan.Plan {
		p := updatePlan("a")
		s := p.Changes[0].Steps
		kp := s[2]
		kp.DependsOn = []string{"vm/a/stop-vm"}
		kp.Destructive, kp.Params = true, &drivers.Params{Reset: true}
		sb := s[1]
		sb.DependsOn = []string{"vm/a/ensure-key-protector"}
		en := s[3]
		en.DependsOn = []string{"vm/a/set-secure-boot"}
		p.Changes[0].Steps = []plan.Step{s[0], kp, sb, en, s[4], s[5]}
		plan.Decide(&p.Changes[0])
		return p
	}
	templateFirst := updatePlan("a")
	templateFirst.Changes[0].Steps[2].Destructive = true
	templateFirst.Changes[0].Steps[2].Params = &drivers.Params{Reset: true}
	plan.Decide(&templateFirst.Changes[0])
	tests := []struct {
		name string
		p    *plan.Plan
		fail string
		want drivers.PowerState
		note string
	}{
		{"template step fails after the reset", resetFirst(), "set-secure-boot a", drivers.PowerOff, "left Off: its vTPM was reset"},
		{"later step fails after the template", resetFirst(), "enable-tpm a", drivers.PowerOff, "left Off: enable-tpm failed"},
		{"no template step after the reset", templateFirst, "start-vm a", drivers.PowerOff, "could not be started again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRec(runningVM("a"))
			d.fail[tt.fail] = -1
			d.perm[tt.fail] = true
			rep, _, err := run(t, tt.p, d, apply.Options{AllowDestructive: true})
			if err == nil {
				t.Fatalf("Run succeeded although %s always fails", tt.fail)
			}
			a := rep.Result("vm/a")
			if got := d.vms["a"].Power; got != tt.want || !strings.HasPrefix(a.Power, tt.note) {
				t.Errorf("vm/a is %s, power note %q; want %s, %q", got, a.Power, tt.want, tt.note)
			}
		})
	}
}

// TestRunDestructiveRechecksVM: before a change with a destructive step
// touches the VM, apply reads the record on it: a VM that tlreconcile does not
// manage, or that is protected, is refused even with --allow-destructive (a
// plan edited by hand, or made before another apply protected the VM).
func TestRunDestructiveRechecksVM(t *testing.T) {
	deletePlan := func() *plan.Plan {
		p := &plan.Plan{FormatVersion: plan.FormatVersion, Clusters: []drivers.ClusterRef{{Name: "c1", Driver: "rec"}}}
		del := step("delete-vm", drivers.OpDeleteVM, "a", "stop-vm")
		del.Destructive = true
		p.Changes = []plan.Change{{Resource: "vm/a", Cluster: "c1", Action: plan.ActionDelete,
			Steps: []plan.Step{step("stop-vm", drivers.OpStopVM, "a"), del}}}
		return p
	}
	protected := runningVM("a")
	protected.Annotations.Protect = true
	unmanaged := runningVM("a")
	unmanaged.Annotations = nil
	tests := []struct {
		name string
		vm   drivers.VM
		want string // "" = the delete runs
	}{
		{"managed, not protected", runningVM("a"), ""},
		{"protected", protected, "protected"},
		{"unmanaged", unmanaged, "not managed by tlreconcile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRec(tt.vm)
			rep, _, err := run(t, deletePlan(), d, apply.Options{AllowDestructive: true})
			if tt.want == "" {
				if err != nil || d.ops() != "stop-vm a\ndelete-vm a" {
					t.Fatalf("Run: %v, ops %q", err, d.ops())
				}
				return
			}
			a := rep.Result("vm/a")
			if err == nil || a.Status != apply.StatusFailed || !strings.Contains(a.Reason, tt.want) {
				t.Errorf("Run: %v; vm/a %s (%s), want failed naming %q", err, a.Status, a.Reason, tt.want)
			}
			if d.ops() != "" {
				t.Errorf("steps ran on vm/a: %q", d.ops())
			}
		})
	}
}

// TestRunEventsCountSteps: a progress view counts steps from events alone:
// run-started carries the total, and the step events of every outcome
// (done, failed, skipped one by one, a whole resource blocked, skipped or
// refused) settle exactly that many.
func TestRunEventsCountSteps(t *testing.T) {
	withNode := func(p *plan.Plan) *plan.Plan {
		p.Changes = append([]plan.Change{{Resource: "node/node1", Cluster: "c1", Action: plan.ActionUpdate,
			Steps: []plan.Step{{ID: "node1/start-igvm-agent", Op: drivers.Op{Kind: drivers.OpStartIgvmAgent, Cluster: "c1", Node: "node1"}, DependsOn: []string{}}}}}, p.Changes...)
		p.Changes[1].Steps[0].DependsOn = []string{"node1/start-igvm-agent"}
		return p
	}
	protectedDelete := func() *plan.Plan {
		p := &plan.Plan{FormatVersion: plan.FormatVersion, Clusters: []drivers.ClusterRef{{Name: "c1", Driver: "rec"}}}
		del := step("delete-vm", drivers.OpDeleteVM, "c", "stop-vm")
		del.Destructive = true
		p.Changes = []plan.Change{{Resource: "vm/c", Cluster: "c1", Action: plan.ActionDelete,
			Steps: []plan.Step{step("stop-vm", drivers.OpStopVM, "c"), del}}}
		return p
	}
	protected := runningVM("c")
	protected.Annotations.Protect = true
	tests := []struct {
		name  string
		plan  func() *plan.Plan
		vms   []drivers.VM
		fail  string // op that always fails permanently
		total int
	}{
		{"all done", func() *plan.Plan { return updatePlan("a", "b") }, []drivers.VM{runningVM("a"), runningVM("b")}, "", 12},
		{"failed then skipped", func() *plan.Plan { return updatePlan("a", "b") }, []drivers.VM{runningVM("a"), runningVM("b")}, "enable-tpm", 12},
		{"blocked", func() *plan.Plan {
			p := updatePlan("a", "b")
			p.Changes[0].Steps[3].Blocked = &plan.Blocked{Code: plan.BlockProtected, Reason: "vm/a is protected"}
			return p
		}, []drivers.VM{runningVM("a"), runningVM("b")}, "", 12},
		{"whole resource skipped", func() *plan.Plan { return withNode(updatePlan("a", "b")) }, []drivers.VM{runningVM("a"), runningVM("b")}, "start-igvm-agent", 13},
		{"whole resource refused", protectedDelete, []drivers.VM{protected}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newRec(tt.vms...)
			if tt.fail != "" {
				d.fail[tt.fail], d.perm[tt.fail] = -1, true
			}
			_, ev, _ := run(t, tt.plan(), d, apply.Options{AllowDestructive: true})
			total, settled := -1, 0
			for _, e := range ev.evs {
				switch {
				case e.Kind == apply.EventRunStarted:
					total = e.Steps
				case e.Kind != apply.EventStepDone && e.Kind != apply.EventStepFailed && e.Kind != apply.EventStepSkipped:
				case e.StepID != "":
					settled++
				default:
					settled += e.Steps
				}
			}
			if total != tt.total || settled != total {
				t.Errorf("run-started says %d steps (want %d), events settle %d", total, tt.total, settled)
			}
		})
	}
}
