package hvmodel_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

const cl = "hci-west"

func ref(backend string) drivers.ClusterRef {
	return drivers.ClusterRef{Name: cl, Driver: hvmodel.Name, Nodes: []string{"node1", "node2", "node3"}, Options: map[string]any{"vtpmBackend": backend}}
}

// fixture is a driver with a cluster and helpers that fail the test on error.
type fixture struct {
	t   testing.TB
	d   *hvmodel.Driver
	ref drivers.ClusterRef
	dir string
}

func newFixture(t testing.TB, backend string) *fixture {
	t.Helper()
	dir := t.TempDir()
	d, err := hvmodel.New(drivers.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, d: d, ref: ref(backend), dir: dir}
	f.observe()
	return f
}

// second opens another Driver on the same state dir, as another process would.
func (f *fixture) second() *hvmodel.Driver {
	d, err := hvmodel.New(drivers.Config{StateDir: f.dir})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) observe() *drivers.Observed {
	f.t.Helper()
	o, err := f.d.Observe(context.Background(), f.ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return o
}

func (f *fixture) vm(name string) drivers.VM {
	f.t.Helper()
	for _, v := range f.observe().VMs {
		if v.Name == name {
			return v
		}
	}
	f.t.Fatalf("VM %s not observed", name)
	return drivers.VM{}
}

func (f *fixture) apply(kind drivers.OpKind, vm string, p *drivers.Params) drivers.Result {
	f.t.Helper()
	res, err := f.d.Apply(context.Background(), drivers.ClusterRef{Name: cl}, drivers.Op{Kind: kind, Cluster: cl, VM: vm, Params: p})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// running creates a running trusted-launch VM on node.
func (f *fixture) running(name, node string) drivers.VM {
	f.t.Helper()
	f.apply(drivers.OpCreateVM, name, &drivers.Params{SecurityType: drivers.SecurityTrustedLaunch, TargetNode: node})
	f.apply(drivers.OpEnsureKeyProtector, name, nil)
	f.apply(drivers.OpEnableTPM, name, nil)
	f.apply(drivers.OpStartVM, name, nil)
	return f.vm(name)
}

func backends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range []string{hvmodel.BackendReference, hvmodel.BackendSwtpm} {
		t.Run(b, func(t *testing.T) {
			if b == hvmodel.BackendSwtpm {
				needSwtpm(t)
			}
			fn(t, b)
		})
	}
}

func TestFailover(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		f := newFixture(t, backend)
		v0 := f.running("x", "node1")
		ctx := context.Background()

		if _, err := f.d.Failover(ctx, cl, "x", "node2", false); err != nil {
			t.Fatal(err)
		}
		v1 := f.vm("x")
		if v1.Node != "node2" || v1.Power != drivers.PowerRunning || v1.VTPMIdentity != v0.VTPMIdentity {
			t.Errorf("failover: node %s, power %s, identity %s; want node2, Running, %s (kept)", v1.Node, v1.Power, v1.VTPMIdentity, v0.VTPMIdentity)
		}

		if _, err := f.d.Failover(ctx, cl, "x", "node3", true); err != nil {
			t.Fatal(err)
		}
		v2 := f.vm("x")
		if v2.Node != "node3" || v2.VTPMIdentity == "" || v2.VTPMIdentity == v0.VTPMIdentity {
			t.Errorf("failover --lose-vtpm: node %s, identity %q; want node3 and a new identity (was %s)", v2.Node, v2.VTPMIdentity, v0.VTPMIdentity)
		}
		if v2.KeyProtectorSHA256 != v0.KeyProtectorSHA256 {
			t.Error("failover --lose-vtpm changed the key protector; only the vTPM state is lost")
		}

		// Failing over to a node that cannot unlock the guest state leaves the VM Off.
		if err := f.d.SetAgent(cl, "node1", drivers.AgentStopped); err != nil {
			t.Fatal(err)
		}
		msg, err := f.d.Failover(ctx, cl, "x", "node1", false)
		if err != nil {
			t.Fatal(err)
		}
		if v := f.vm("x"); v.Power != drivers.PowerOff || v.Node != "node1" || v.VTPMIdentity != "" {
			t.Errorf("failover to a node with a stopped agent: %s, %s, identity %q; want Off on node1, identity unknown (%s)", v.Power, v.Node, v.VTPMIdentity, msg)
		}
		if err := f.d.SetAgent(cl, "node1", drivers.AgentRunning); err != nil {
			t.Fatal(err)
		}
		if v := f.vm("x"); v.VTPMIdentity != v2.VTPMIdentity {
			t.Errorf("agent running again: identity %q, want %s back", v.VTPMIdentity, v2.VTPMIdentity)
		}
	})
}

func TestAgentStoppedBlocksStart(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	f.running("a", "node2")
	f.apply(drivers.OpStopVM, "a", nil)
	if err := f.d.SetAgent(cl, "node2", drivers.AgentStopped); err != nil {
		t.Fatal(err)
	}
	_, err := f.d.Apply(context.Background(), drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpStartVM, Cluster: cl, VM: "a"})
	if !errors.Is(err, drivers.ErrPrecondition) || !strings.Contains(err.Error(), "IgvmAgent is stopped") {
		t.Fatalf("start on a node with a stopped agent: %v, want ErrPrecondition naming the agent", err)
	}
	// A standard VM without a vTPM does not need the agent.
	f.apply(drivers.OpCreateVM, "std", &drivers.Params{SecurityType: drivers.SecurityStandard, TargetNode: "node2"})
	f.apply(drivers.OpStartVM, "std", nil)
}

func TestDisableEnableResetsIdentity(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		f := newFixture(t, backend)
		v0 := f.running("r", "node1")
		f.apply(drivers.OpStopVM, "r", nil)
		f.apply(drivers.OpDisableTPM, "r", nil)
		if v := f.vm("r"); v.VTPMIdentity != "" {
			t.Errorf("TPM disabled: identity %q, want none", v.VTPMIdentity)
		}
		f.apply(drivers.OpEnableTPM, "r", nil)
		if v := f.vm("r"); v.VTPMIdentity == "" || v.VTPMIdentity == v0.VTPMIdentity {
			t.Errorf("re-enabled TPM: identity %q, want a new one (old %s)", v.VTPMIdentity, v0.VTPMIdentity)
		}
	})
}

func TestLostVaultKey(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	v := f.running("k", "node1")
	f.apply(drivers.OpStopVM, "k", nil)
	if err := os.Remove(fmt.Sprintf("%s/sim/%s/vault/%s.key", f.dir, cl, v.ID)); err != nil {
		t.Fatal(err)
	}
	if got, err := f.second().ObserveVM(context.Background(), f.ref, "k"); err != nil || got.VTPMIdentity != "" {
		t.Fatalf("vault key gone: %v %v, want identity unknown", got, err)
	}
	_, err := f.d.Apply(context.Background(), drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpStartVM, Cluster: cl, VM: "k"})
	if !errors.Is(err, drivers.ErrPrecondition) {
		t.Fatalf("start without the vault key: %v, want ErrPrecondition", err)
	}
}

func TestFaultsPersistAcrossInstances(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	f.apply(drivers.OpCreateVM, "v", nil)
	if err := f.d.Inject(cl, hvmodel.Fault{Op: drivers.OpSetProcessor, Fail: 2}); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Inject(cl, hvmodel.Fault{Op: drivers.OpSetMemory, FailAlways: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.d.Inject(cl, hvmodel.Fault{Op: drivers.OpStopVM, Latency: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	other := f.second()
	ctx := context.Background()
	op := drivers.Op{Kind: drivers.OpSetProcessor, Cluster: cl, VM: "v", Params: &drivers.Params{Processors: 4}}
	for i := range 2 {
		_, err := other.Apply(ctx, drivers.ClusterRef{Name: op.Cluster}, op)
		if err == nil || !drivers.IsTransient(err) {
			t.Fatalf("call %d: %v, want an injected transient error", i, err)
		}
	}
	if res, err := other.Apply(ctx, drivers.ClusterRef{Name: op.Cluster}, op); err != nil || !res.Changed {
		t.Fatalf("third call: %v %v, want the op to run", res, err)
	}
	_, err := other.Apply(ctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpSetMemory, Cluster: cl, VM: "v", Params: &drivers.Params{MemoryMB: 4096}})
	if err == nil || drivers.IsTransient(err) || !strings.Contains(err.Error(), "sim inject --clear") {
		t.Fatalf("fail-always: %v, want a permanent error saying how to clear it", err)
	}
	start := time.Now()
	other.Apply(ctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpStopVM, Cluster: cl, VM: "v"})
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("stop-vm with 30ms injected latency took %v", el)
	}
	// Latency honours cancellation.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := other.Apply(cctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpStopVM, Cluster: cl, VM: "v"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled apply: %v, want context.Canceled", err)
	}
	if err := f.d.ClearFaults(cl); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Apply(ctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpSetMemory, Cluster: cl, VM: "v", Params: &drivers.Params{MemoryMB: 4096}}); err != nil {
		t.Fatalf("after clear: %v", err)
	}
	if fs, _ := other.Faults(cl); len(fs) != 0 {
		t.Errorf("after clear: faults %v", fs)
	}
}

func TestDrift(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	f.running("d", "node1")
	ctx := context.Background()
	cases := []struct {
		set   string
		check func(v drivers.VM) bool
	}{
		{"secureBoot=false", func(v drivers.VM) bool { return !v.SecureBoot }},
		{"secure_boot_template=OpenSourceShieldedVM", func(v drivers.VM) bool { return v.SecureBootTemplate == "OpenSourceShieldedVM" }},
		{"power=Off", func(v drivers.VM) bool { return v.Power == drivers.PowerOff }},
		{"processors=7", func(v drivers.VM) bool { return v.Processors == 7 }},
		{"memoryMB=3072", func(v drivers.VM) bool { return v.MemoryMB == 3072 }},
		{"vbsOptOut=true", func(v drivers.VM) bool { return v.VBSOptOut }},
		{"encryptState=true", func(v drivers.VM) bool { return v.EncryptState }},
		{"fileAccess=violation", func(v drivers.VM) bool { return v.FileAccess == drivers.FileAccessViolation }},
		{"node=node3", func(v drivers.VM) bool { return v.Node == "node3" && v.VTPMIdentity != "" }},
		{"annotations.specHash=zz", func(v drivers.VM) bool { return v.Annotations != nil && v.Annotations.SpecHash == "zz" }},
		{"annotations=none", func(v drivers.VM) bool { return v.Annotations == nil }},
		{"keyProtector=false", func(v drivers.VM) bool { return !v.KeyProtector && v.KeyProtectorSHA256 == "" }},
		{"tpmEnabled=false", func(v drivers.VM) bool { return !v.TPMEnabled && v.VTPMIdentity == "" }},
	}
	for _, tc := range cases {
		t.Run(tc.set, func(t *testing.T) {
			s, err := hvmodel.ParseSetting(tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.d.Drift(ctx, cl, "d", []hvmodel.Setting{s}); err != nil {
				t.Fatal(err)
			}
			if v := f.vm("d"); !tc.check(v) {
				t.Errorf("after %s: %+v", tc.set, v)
			}
		})
	}
	t.Run("restrict-file-access repairs fileAccess", func(t *testing.T) {
		if res := f.apply(drivers.OpRestrictFileAccess, "d", nil); !res.Changed {
			t.Error("Changed = false")
		}
		if v := f.vm("d"); v.FileAccess != drivers.FileAccessHostAdminsOnly {
			t.Errorf("FileAccess = %s", v.FileAccess)
		}
		if res := f.apply(drivers.OpRestrictFileAccess, "d", nil); res.Changed {
			t.Error("second restrict: Changed = true")
		}
	})
	bad := []struct{ set, want string }{
		{"colour=blue", "unknown field"},
		{"vtpmIdentity=abc", "--lose-vtpm"},
		{"processors=many", "not a whole number"},
		{"secureBoot=maybe", "not true or false"},
		{"node=nowhere", "no node"},
	}
	before := f.vm("d")
	for _, tc := range bad {
		t.Run("refused "+tc.set, func(t *testing.T) {
			s, _ := hvmodel.ParseSetting(tc.set)
			// A bad setting refuses the whole batch, including the good one before it.
			err := f.d.Drift(ctx, cl, "d", []hvmodel.Setting{{Field: "processors", Value: "9"}, s})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "vm/d:") {
				t.Fatalf("error %v, want one starting vm/d: and mentioning %q", err, tc.want)
			}
		})
	}
	if after := f.vm("d"); after.Processors != before.Processors {
		t.Errorf("refused drift changed processors to %d", after.Processors)
	}
	if _, err := hvmodel.ParseSetting("noequals"); !errors.Is(err, drivers.ErrInvalidArgument) {
		t.Errorf("ParseSetting without '=': %v", err)
	}
}

func TestCreateUnmanaged(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	ctx := context.Background()
	if err := f.d.CreateUnmanaged(ctx, cl, "admin-vm", hvmodel.UnmanagedVM{Running: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.d.CreateUnmanaged(ctx, cl, "old", hvmodel.UnmanagedVM{Generation: 1}); err != nil {
		t.Fatal(err)
	}
	a, old := f.vm("admin-vm"), f.vm("old")
	if a.Annotations != nil || a.Power != drivers.PowerRunning || !a.TPMEnabled || a.VTPMIdentity == "" {
		t.Errorf("unmanaged Gen 2 VM: %+v; want running trusted launch with vTPM, no annotations", a)
	}
	if old.Annotations != nil || old.Generation != 1 || old.SecureBoot || old.SecurityType != drivers.SecurityStandard {
		t.Errorf("unmanaged Gen 1 VM: %+v", old)
	}
	if err := f.d.CreateUnmanaged(ctx, cl, "old", hvmodel.UnmanagedVM{}); !errors.Is(err, drivers.ErrAlreadyExists) {
		t.Errorf("second create: %v, want ErrAlreadyExists", err)
	}
}

func TestClusterLifecycle(t *testing.T) {
	dir := t.TempDir()
	d, _ := hvmodel.New(drivers.Config{StateDir: dir})
	if _, err := d.ResolveCluster(""); !errors.Is(err, drivers.ErrNotFound) {
		t.Errorf("no clusters: %v, want ErrNotFound", err)
	}
	if _, err := d.Apply(context.Background(), drivers.ClusterRef{Name: "nope"}, drivers.Op{Kind: drivers.OpCreateVM, Cluster: "nope", VM: "v"}); !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "sim init") {
		t.Errorf("op on a missing cluster: %v, want ErrNotFound with the fix", err)
	}
	created, err := d.Init(drivers.ClusterRef{Name: "a", Nodes: []string{"n2", "n1"}})
	if err != nil || !created {
		t.Fatalf("init: %v %v", created, err)
	}
	if created, err := d.Init(drivers.ClusterRef{Name: "a", Nodes: []string{"n1", "n2"}}); err != nil || created {
		t.Errorf("init again with the same nodes: %v %v, want no-op", created, err)
	}
	if _, err := d.Init(drivers.ClusterRef{Name: "a", Nodes: []string{"n1"}}); !errors.Is(err, drivers.ErrAlreadyExists) {
		t.Errorf("init with other nodes: %v, want ErrAlreadyExists", err)
	}
	if _, err := d.Observe(context.Background(), drivers.ClusterRef{Name: "a", Nodes: []string{"n1", "n2"}, Options: map[string]any{"vtpmBackend": "swtpm"}}); err == nil || !strings.Contains(err.Error(), "vtpmBackend") {
		t.Errorf("observe asking for another backend: %v", err)
	}
	if name, err := d.ResolveCluster(""); err != nil || name != "a" {
		t.Errorf("one cluster: %q %v", name, err)
	}
	d.Init(drivers.ClusterRef{Name: "b", Nodes: []string{"n1"}})
	if _, err := d.ResolveCluster(""); !errors.Is(err, drivers.ErrInvalidArgument) {
		t.Errorf("two clusters: %v, want a request for --cluster", err)
	}
	bad := []drivers.ClusterRef{
		{Name: "../escape", Nodes: []string{"n1"}},
		{Name: "c", Nodes: nil},
		{Name: "c", Nodes: []string{"n1", "n1"}},
		{Name: "c", Nodes: []string{"n/1"}},
		{Name: "c", Nodes: []string{"n1"}, Options: map[string]any{"vtpmBackend": "tpm-in-a-box"}},
	}
	for _, r := range bad {
		if _, err := d.Observe(context.Background(), r); !errors.Is(err, drivers.ErrInvalidArgument) {
			t.Errorf("observe %+v: %v, want ErrInvalidArgument", r, err)
		}
	}
}

// TestHelperProcess is not a test: the process tests run the test binary
// again with SIM_HELPER set so that several processes work on one cluster.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("SIM_HELPER")
	if mode == "" {
		t.Skip("helper process for the multi-process tests")
	}
	d, err := hvmodel.New(drivers.Config{StateDir: os.Getenv("SIM_HELPER_STATE")})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	ctx := context.Background()
	switch mode {
	case "create":
		_, err := d.Apply(ctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpCreateVM, Cluster: cl, VM: "contested"})
		switch {
		case err == nil:
			fmt.Println("created")
		case errors.Is(err, drivers.ErrAlreadyExists):
			fmt.Println("exists")
		default:
			fmt.Println("error", err)
		}
	case "drain":
		failures := 0
		for {
			_, err := d.Apply(ctx, drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpSetProcessor, Cluster: cl, VM: "shared", Params: &drivers.Params{Processors: 2}})
			if err == nil {
				break
			}
			if !drivers.IsTransient(err) {
				fmt.Println("error", err)
				return
			}
			failures++
		}
		fmt.Println("failures", failures)
	}
}

// runHelpers starts n helper processes at once and returns their outputs.
func runHelpers(t *testing.T, n int, mode, state string) []string {
	t.Helper()
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
			cmd.Env = append(os.Environ(), "SIM_HELPER="+mode, "SIM_HELPER_STATE="+state)
			out, err := cmd.Output()
			if err != nil {
				outs[i] = "error " + err.Error()
				return
			}
			outs[i] = strings.TrimSpace(strings.Split(string(out), "\n")[0])
		}()
	}
	wg.Wait()
	return outs
}

func TestConcurrentProcesses(t *testing.T) {
	f := newFixture(t, hvmodel.BackendReference)
	const procs = 6
	t.Run("one create wins", func(t *testing.T) {
		outs := runHelpers(t, procs, "create", f.dir)
		created := 0
		for _, o := range outs {
			switch o {
			case "created":
				created++
			case "exists":
			default:
				t.Errorf("helper: %q", o)
			}
		}
		if created != 1 {
			t.Errorf("%d processes created the same VM, want exactly 1: %v", created, outs)
		}
	})
	t.Run("fail N fires exactly N times across processes", func(t *testing.T) {
		f.apply(drivers.OpCreateVM, "shared", nil)
		const n = 25
		if err := f.d.Inject(cl, hvmodel.Fault{Op: drivers.OpSetProcessor, Fail: n}); err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, o := range runHelpers(t, procs, "drain", f.dir) {
			k, err := strconv.Atoi(strings.TrimPrefix(o, "failures "))
			if err != nil {
				t.Fatalf("helper: %q", o)
			}
			total += k
		}
		if total != n {
			t.Errorf("processes saw %d injected failures in total, want exactly %d", total, n)
		}
	})
}
