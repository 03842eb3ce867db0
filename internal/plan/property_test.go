package plan_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// propertyChecks is how many random cases TestConvergence runs when neither
// -rapid.checks nor RAPID_CHECKS says otherwise: thousands, because this test
// is the planner's correctness core; -short runs rapid's default 100.
const propertyChecks = 2000

// TestConvergence is the planner's correctness property, checked against the
// real sim driver (real files, real Hyper-V rules, real TPM identities): for a
// random desired state and a random, drifted sim cluster, executing the plan's
// runnable steps in order (a) never breaks a Hyper-V rule the planner should
// have ordered around, and (b) leaves a cluster whose next plan holds nothing
// but blocked or guarded (destructive, not allowed) changes.
//
// One driver and one state dir serve every case; each case uses a fresh
// cluster name, so a case costs a few dozen small file writes.
func TestConvergence(t *testing.T) {
	setChecks(t)
	d, err := hvmodel.New(drivers.Config{StateDir: fastTempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		convergenceCase(rt, d, fmt.Sprintf("prop%d", n.Add(1)))
	})
}

// fastTempDir is a temporary directory on tmpfs when the machine has one: the
// sim fsyncs every write, which on a disk costs most of a case's time.
func fastTempDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "tlreconcile-plan-test-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

func setChecks(t *testing.T) {
	t.Helper()
	if testing.Short() {
		return
	}
	if _, env := os.LookupEnv("RAPID_CHECKS"); env {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		if err := flag.Set("rapid.checks", fmt.Sprint(propertyChecks)); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	propNodes     = []string{"n1", "n2", "n3"}
	propVMs       = []string{"v1", "v2", "v3", "v4"}
	propTemplates = []string{spec.TemplateMicrosoftWindows, spec.TemplateMicrosoftUEFICA, spec.TemplateOpenSourceShieldedVM}
)

func convergenceCase(t *rapid.T, d *hvmodel.Driver, name string) {
	ctx := context.Background()
	nodes := propNodes[:rapid.IntRange(1, 3).Draw(t, "nodes")]
	c := spec.Cluster{
		Name: name, Driver: hvmodel.Name, Nodes: nodes,
		IgvmAgent:     rapid.SampledFrom([]string{"required", "ignore"}).Draw(t, "igvmAgent"),
		VMFileAccess:  rapid.SampledFrom([]string{"hostAdminsOnly", "ignore"}).Draw(t, "vmFileAccess"),
		LiveMigration: spec.LiveMigration{Encryption: rapid.SampledFrom([]string{"ipsec", "none"}).Draw(t, "encryption")},
	}
	ref := plan.ClusterRef(c)

	// The starting point: an earlier desired state, applied in full on a
	// healthy cluster; then drift and node trouble behind tlreconcile's back.
	before := randomDesired(t, "before", c)
	mustObserve(t, d, ref)
	p0 := mustPlan(t, before, d, ref, plan.Options{})
	execute(t, d, ref, p0, true, false)
	for _, v := range before.VMs {
		if rapid.Bool().Draw(t, "drift "+v.Name) {
			drift(t, d, name, v.Name, nodes)
		}
	}
	if rapid.IntRange(0, 4).Draw(t, "unmanaged") == 0 {
		err := d.CreateUnmanaged(ctx, name, propVMs[rapid.IntRange(0, 3).Draw(t, "unmanaged name")], hvmodel.UnmanagedVM{
			Generation: rapid.SampledFrom([]int{1, 2}).Draw(t, "unmanaged gen"), Running: rapid.Bool().Draw(t, "unmanaged running"),
		})
		if err != nil && !errors.Is(err, drivers.ErrAlreadyExists) {
			t.Fatalf("create unmanaged: %v", err)
		}
	}
	for _, n := range nodes {
		st := rapid.SampledFrom([]drivers.AgentState{drivers.AgentRunning, drivers.AgentRunning, drivers.AgentStopped, drivers.AgentAbsent}).Draw(t, "agent "+n)
		if err := d.SetAgent(name, n, st); err != nil {
			t.Fatal(err)
		}
		if err := d.SetIPsec(name, n, rapid.Bool().Draw(t, "ipsec "+n)); err != nil {
			t.Fatal(err)
		}
	}

	// The property.
	after := randomDesired(t, "after", c)
	opts := plan.Options{Prune: rapid.Bool().Draw(t, "prune")}
	allowDestructive := rapid.Bool().Draw(t, "allow destructive")
	p1 := mustPlan(t, after, d, ref, opts)
	execute(t, d, ref, p1, allowDestructive, true)
	p2 := mustPlan(t, after, d, ref, opts)
	// A protect: true recorded on the VM (the YAML says false) is released by
	// one apply and the guarded change comes with the next plan, by design.
	released := map[string]bool{}
	for _, f := range p1.Findings {
		if f.Rule == plan.RuleProtectReleased {
			released[f.Resource] = true
		}
	}
	for _, ch := range p2.Changes {
		if changeBlocked(ch) || (!allowDestructive && changeDestructive(ch)) || released[ch.Resource] {
			continue
		}
		t.Fatalf("%s is still planned after its plan ran (allow destructive %t):\nfirst plan:\n%s\nsecond plan:\n%s", ch.Resource, allowDestructive, render(p1), render(p2))
	}
}

// randomDesired draws a valid desired state: trusted-launch VMs have Secure
// Boot and a vTPM (a validation rule); sizes are within Hyper-V's limits.
func randomDesired(t *rapid.T, label string, c spec.Cluster) *spec.Desired {
	d := &spec.Desired{Clusters: []spec.Cluster{c}, Catalog: catalog, Files: []string{}}
	for _, name := range propVMs {
		if !rapid.Bool().Draw(t, label+" declare "+name) {
			continue
		}
		v := spec.VM{
			Name: name, Cluster: c.Name, Image: win11,
			SecurityType: rapid.SampledFrom([]string{spec.SecurityTrustedLaunch, spec.SecurityTrustedLaunch, spec.SecurityStandard}).Draw(t, label+" type "+name),
			Processors:   rapid.IntRange(1, 4).Draw(t, label+" cpu "+name),
			MemoryMB:     int64(rapid.SampledFrom([]int{1024, 2048, 4096}).Draw(t, label+" mem "+name)),
			SecureBoot: spec.SecureBoot{Enabled: rapid.Bool().Draw(t, label+" sb "+name),
				Template: rapid.SampledFrom(propTemplates).Draw(t, label+" template "+name)},
			VTPM:                            spec.VTPM{Enabled: rapid.Bool().Draw(t, label+" vtpm "+name)},
			VBS:                             rapid.Bool().Draw(t, label+" vbs "+name),
			EncryptStateAndMigrationTraffic: rapid.Bool().Draw(t, label+" encrypt "+name),
			Power:                           rapid.SampledFrom([]string{spec.PowerRunning, spec.PowerOff}).Draw(t, label+" power "+name),
			Protect:                         rapid.IntRange(0, 3).Draw(t, label+" protect "+name) == 0,
		}
		if v.SecurityType == spec.SecurityTrustedLaunch {
			v.SecureBoot.Enabled, v.VTPM.Enabled = true, true
		}
		if i := rapid.IntRange(-1, len(c.Nodes)-1).Draw(t, label+" placement "+name); i >= 0 {
			v.Placement.Node = c.Nodes[i]
		}
		d.VMs = append(d.VMs, v)
	}
	return d
}

// drift changes one or two fields of a VM as an administrator or a failure would.
func drift(t *rapid.T, d *hvmodel.Driver, cluster, vm string, nodes []string) {
	fields := []func() string{
		func() string {
			return "power=" + rapid.SampledFrom([]string{"Running", "Off", "Saved", "Paused", "Other"}).Draw(t, "power")
		},
		func() string { return fmt.Sprintf("processors=%d", rapid.IntRange(1, 4).Draw(t, "processors")) },
		func() string {
			return "memoryMB=" + rapid.SampledFrom([]string{"1024", "2048", "4096"}).Draw(t, "memory")
		},
		func() string { return fmt.Sprintf("secureBoot=%t", rapid.Bool().Draw(t, "secureBoot")) },
		func() string { return "secureBootTemplate=" + rapid.SampledFrom(propTemplates).Draw(t, "template") },
		func() string { return fmt.Sprintf("encryptState=%t", rapid.Bool().Draw(t, "encryptState")) },
		func() string { return fmt.Sprintf("vbsOptOut=%t", rapid.Bool().Draw(t, "vbsOptOut")) },
		func() string { return "fileAccess=violation" },
		func() string { return "generation=1" },
		func() string {
			return "securityType=" + rapid.SampledFrom([]string{"TrustedLaunch", "Standard"}).Draw(t, "securityType")
		},
		func() string { return "node=" + rapid.SampledFrom(nodes).Draw(t, "node") },
		func() string { return "annotations=none" },
		func() string { return "annotations.protect=true" },
	}
	var set []hvmodel.Setting
	for i := rapid.IntRange(1, 2).Draw(t, "drifts"); i > 0; i-- {
		s, err := hvmodel.ParseSetting(fields[rapid.IntRange(0, len(fields)-1).Draw(t, "field")]())
		if err != nil {
			t.Fatal(err)
		}
		set = append(set, s)
	}
	if err := d.Drift(context.Background(), cluster, vm, set); err != nil && !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("drift %v: %v", set, err)
	}
}

func mustObserve(t *rapid.T, d *hvmodel.Driver, ref drivers.ClusterRef) *drivers.Observed {
	o, err := d.Observe(context.Background(), ref)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return o
}

func mustPlan(t *rapid.T, desired *spec.Desired, d *hvmodel.Driver, ref drivers.ClusterRef, opts plan.Options) *plan.Plan {
	p, err := plan.Build(desired, map[string]*drivers.Observed{ref.Name: mustObserve(t, d, ref)}, opts)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return p
}

// execute runs the plan's steps in dependency order as apply does: every
// step of a change with a blocked step (half a VM's change is worse than
// none), of a change with a destructive step unless allowed, and of steps
// waiting for a skipped step is skipped. A set-annotations step that
// leaves the vTPM identity to apply gets the identity observed after the
// VM's steps, as apply records it.
func execute(t *rapid.T, d *hvmodel.Driver, ref drivers.ClusterRef, p *plan.Plan, allowDestructive, strict bool) {
	order, err := plan.Order(p)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	steps := map[string]plan.Step{}
	guarded := map[string]bool{}
	for _, c := range p.Changes {
		g := changeBlocked(c) || (!allowDestructive && changeDestructive(c))
		for _, s := range c.Steps {
			steps[s.ID] = s
			guarded[s.ID] = g
		}
	}
	skipped := map[string]bool{}
	for _, id := range order {
		s := steps[id]
		skip := s.Blocked != nil || guarded[id]
		for _, dep := range s.DependsOn {
			skip = skip || skipped[dep]
		}
		if skip {
			skipped[id] = true
			continue
		}
		op := s.Op
		if op.Kind == drivers.OpSetAnnotations && op.Params.Annotations.VTPMIdentity == "" {
			a := *op.Params.Annotations
			vm, err := d.ObserveVM(context.Background(), ref, op.VM)
			if err != nil {
				t.Fatalf("observe %s: %v", op.VM, err)
			}
			a.VTPMIdentity, a.Node = vm.VTPMIdentity, vm.Node
			op.Params = &drivers.Params{Annotations: &a}
		}
		if _, err := d.Apply(context.Background(), drivers.ClusterRef{Name: op.Cluster}, op); err != nil {
			if !strict {
				t.Fatalf("setting up: %s: %v\n%s", id, err, render(p))
			}
			kind := "error"
			if errors.Is(err, drivers.ErrInvalidState) || errors.Is(err, drivers.ErrPrecondition) {
				kind = "Hyper-V rule violation"
			}
			t.Fatalf("%s at %s: %v\nplan:\n%s", kind, id, err, render(p))
		}
	}
}

func changeBlocked(c plan.Change) bool {
	for _, s := range c.Steps {
		if s.Blocked != nil {
			return true
		}
	}
	return false
}

func changeDestructive(c plan.Change) bool {
	for _, s := range c.Steps {
		if s.Destructive {
			return true
		}
	}
	return false
}
