package azurelocal

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// e2ePlatform is the simulated Azure Local with the driver on it (as
// newSimPlatform) and the ARM server at hand, to inject faults.
type e2ePlatform struct {
	*simPlatform
	srv *arm.Server
	c   *conn
}

// Unlike newSimPlatform it runs without the spec bundle (the safety rules
// matter most); with the bundle every ARM call is checked against the spec.
func newE2EPlatform(t *testing.T) *e2ePlatform {
	t.Helper()
	st := startSimStack(t, "", nil)
	var tr policy.Transporter = st.hc
	if _, err := armspec.FindBundle(); err == nil {
		tr = st.checked(t)
	}
	ep := st.endpoint(tr)
	ep.Retry = policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
	ep.PollFrequency = 5 * time.Millisecond
	ep = withLogicalNetwork(t, ep)
	d := New(func(context.Context, drivers.ClusterRef) (Endpoint, error) { return ep, nil })
	t.Cleanup(func() { _ = d.Close() })
	p := &simPlatform{t: t, host: st.host, d: d, ref: drivers.ClusterRef{Name: simClusterName, Driver: Name, Nodes: []string{"node1", "node2"}}}
	c, err := d.connect(context.Background(), p.ref)
	if err != nil {
		t.Fatal(err)
	}
	return &e2ePlatform{simPlatform: p, srv: st.srv, c: c}
}

func (p *e2ePlatform) wrap(prefix string) *E2EDriver {
	p.t.Helper()
	w, err := NewE2EDriver(p.d, prefix)
	if err != nil {
		p.t.Fatal(err)
	}
	return w
}

// wrapped runs op through w, failing the test on error.
func (p *e2ePlatform) wrapped(w *E2EDriver, op drivers.Op) drivers.Result {
	p.t.Helper()
	op.Cluster = p.ref.Name
	r, err := w.Apply(context.Background(), p.ref, op)
	if err != nil {
		p.t.Fatalf("e2e %s %s: %v", op.Kind, op.VM, err)
	}
	return r
}

// unmanagedARMVM creates an Azure Local VM through ARM without
// tlreconcile's tags: someone else's VM that happens to match a prefix.
func (p *e2ePlatform) unmanagedARMVM(name string) {
	p.t.Helper()
	ctx := context.Background()
	params := tlCreate(name).Params
	image, err := p.c.ensureImage(ctx, *params.Image)
	if err != nil {
		p.t.Fatal(err)
	}
	nic, err := p.c.ensureNIC(ctx, name, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.arm.putMachine(ctx, name, map[string]string{"owner": "someone-else"}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.arm.putVM(ctx, name, p.c.vmInstanceFor(name, params, image, nic, "")); err != nil {
		p.t.Fatal(err)
	}
}

func (p *e2ePlatform) nicExists(name string) bool {
	p.t.Helper()
	_, err := p.c.arm.getNIC(context.Background(), name)
	if err != nil && !isNotFound(err) {
		p.t.Fatal(err)
	}
	return err == nil
}

func (p *e2ePlatform) machineExists(name string) bool {
	p.t.Helper()
	_, err := p.c.arm.getMachine(context.Background(), name)
	if err != nil && !isNotFound(err) {
		p.t.Fatal(err)
	}
	return err == nil
}

func names(vms map[string]drivers.VM) []string {
	out := make([]string, 0, len(vms))
	for n := range vms {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

const testPrefix = "tlr-e2e-0a1b2c3d-"

func TestE2EPrefix(t *testing.T) {
	a, b := E2EPrefix(), E2EPrefix()
	if a == b {
		t.Fatalf("two runs got the same prefix %q", a)
	}
	for _, p := range []string{a, b, testPrefix} {
		if err := checkE2EPrefix(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, bad := range []string{"", "tlr-e2e-", "tlr-e2e-0A1B2C3D-", "tlr-e2e-0a1b2c3d", "tlr-e2e-0a1b2c-", "x", "tlr-e2e-0a1b2c3d-web-"} {
		if err := checkE2EPrefix(bad); !errors.Is(err, drivers.ErrInvalidArgument) {
			t.Errorf("prefix %q accepted (%v): a cleanup by it could match other VMs", bad, err)
		}
		if _, err := NewE2EDriver(nil, bad); err == nil {
			t.Errorf("NewE2EDriver accepted prefix %q", bad)
		}
	}
}

func TestE2EOwned(t *testing.T) {
	managed := &drivers.Annotations{ManagedBy: drivers.ManagedBy}
	cases := []struct {
		name string
		vm   drivers.VM
		want bool
	}{
		{"the run's VM", drivers.VM{Name: testPrefix + "web", Annotations: managed}, true},
		{"no managed tag", drivers.VM{Name: testPrefix + "web"}, false},
		{"managed by another tool", drivers.VM{Name: testPrefix + "web", Annotations: &drivers.Annotations{ManagedBy: "terraform"}}, false},
		{"infrastructure", drivers.VM{Name: testPrefix + "bridge", Annotations: managed, Infrastructure: true}, false},
		{"another run", drivers.VM{Name: "tlr-e2e-ffffffff-web", Annotations: managed}, false},
		{"upper-case look-alike", drivers.VM{Name: strings.ToUpper(testPrefix) + "web", Annotations: managed}, false},
		{"prefix not at the start", drivers.VM{Name: "x-" + testPrefix + "web", Annotations: managed}, false},
		{"prefix without its dash", drivers.VM{Name: strings.TrimSuffix(testPrefix, "-") + "x", Annotations: managed}, false},
		{"exactly the prefix", drivers.VM{Name: testPrefix, Annotations: managed}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := E2EOwned(c.vm, testPrefix); got != c.want {
				t.Errorf("E2EOwned(%s) = %v, want %v", c.vm.Name, got, c.want)
			}
		})
	}
	if E2EOwned(drivers.VM{Name: "web", Annotations: managed}, "") {
		t.Error("an empty prefix owns every managed VM")
	}
}

// TestE2ECleanupOnSimulatedAzureLocal: beside the run's VMs the simulated
// Azure Local holds the Arc resource bridge, a VM made with local tools
// under the run's prefix, an Azure Local VM under the run's prefix without
// tlreconcile's tag, a managed VM of another run and managed look-alike
// names. The run also left a machine without its VM instance and a network
// interface of a create that failed at the machine. Cleanup deletes exactly
// the run's: everything else, and the other VMs' network interfaces, stays.
func TestE2ECleanupOnSimulatedAzureLocal(t *testing.T) {
	p := newE2EPlatform(t)
	ctx := context.Background()
	prefix, other := testPrefix, "tlr-e2e-ffffffff-"
	w := p.wrap(prefix)
	p.wrapped(w, tlCreate("web"))
	p.wrapped(w, tlCreate("db"))
	// The suite clears the annotations: the wrapper keeps the managed tag.
	p.wrapped(w, drivers.Op{Kind: drivers.OpSetAnnotations, VM: "db", Params: &drivers.Params{Annotations: &drivers.Annotations{}}})
	// A create whose Arc machine ARM refuses, after its NIC was made.
	if err := p.srv.Inject(arm.Fault{Operation: "Machines_CreateOrUpdate", Transient: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Apply(ctx, p.ref, tlCreate("broken")); err == nil {
		t.Fatal("the create survived a failing Machines_CreateOrUpdate")
	}
	if err := p.srv.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	// A machine whose VM instance was never created.
	if _, err := p.c.arm.putMachine(ctx, prefix+"half", map[string]string{tagManagedBy: drivers.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.ensureNIC(ctx, prefix+"half", nil); err != nil {
		t.Fatal(err)
	}
	keep := []string{other + "web", strings.ToUpper(prefix) + "up", "x-" + prefix + "web", strings.TrimSuffix(prefix, "-") + "x"}
	for _, n := range keep {
		p.apply(tlCreate(n))
	}
	p.unmanagedARMVM(prefix + "theirs")
	if _, err := p.host.CreateLocalVM(ctx, simClusterName, "node1", prefix+"local"); err != nil {
		t.Fatal(err)
	}
	bridge := simClusterName + "-arcbridge"
	if !p.nicExists(prefix+"broken-nic") || !p.machineExists(prefix+"half") {
		t.Fatal("the failed create left no NIC, or the half machine is missing: the test sets up nothing")
	}

	if err := w.Cleanup(ctx, p.ref); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(keep), bridge, prefix+"theirs", prefix+"local")
	slices.Sort(want)
	if got := names(p.observe()); !slices.Equal(got, want) {
		t.Errorf("after cleanup the cluster holds\n  %v\nwant\n  %v", got, want)
	}
	for _, n := range []string{"web", "db", "half", "broken"} {
		if p.machineExists(prefix+n) || p.nicExists(prefix+n+"-nic") {
			t.Errorf("%s%s (machine or NIC) is left after cleanup", prefix, n)
		}
	}
	for _, n := range append(slices.Clone(keep), prefix+"theirs") {
		if !p.nicExists(n + "-nic") {
			t.Errorf("cleanup deleted the NIC of %s, a VM the run did not create", n)
		}
	}
	if st, err := p.host.Observe(ctx, simClusterName, cluster.ObserveOptions{}); err != nil || !slices.ContainsFunc(st.VMs, func(v cluster.VMState) bool { return v.Name == bridge }) {
		t.Errorf("the resource bridge is gone (%v)", err)
	}
	if err := w.Cleanup(ctx, p.ref); err != nil {
		t.Errorf("a second cleanup: %v", err)
	}
}

// TestE2ECleanupKeepsGoing: a delete that fails does not stop the cleanup
// of the run's other VMs; the error names what is left and says to remove
// it by hand; a later cleanup (E2ECleanup, as after a crashed run) finishes.
func TestE2ECleanupKeepsGoing(t *testing.T) {
	p := newE2EPlatform(t)
	ctx := context.Background()
	w := p.wrap(testPrefix)
	for _, n := range []string{"a", "b", "c"} {
		p.wrapped(w, tlCreate(n))
	}
	if err := p.srv.Inject(arm.Fault{Operation: "VirtualMachineInstances_Delete", FailAsync: 1}); err != nil {
		t.Fatal(err)
	}
	err := w.Cleanup(ctx, p.ref)
	left := 0
	for _, n := range []string{"a", "b", "c"} {
		if p.machineExists(testPrefix + n) {
			left++
			if err == nil || !strings.Contains(err.Error(), "vm/"+testPrefix+n) {
				t.Errorf("%s%s is left and the error does not name it: %v", testPrefix, n, err)
			}
		}
	}
	if left != 1 || err == nil || !strings.Contains(err.Error(), "by hand") {
		t.Fatalf("one failing delete: %d VMs left (want 1), error %v", left, err)
	}
	if err := E2ECleanup(ctx, p.d, p.ref, testPrefix); err != nil {
		t.Fatal(err)
	}
	if vms := p.observe(); len(vms) != 1 {
		t.Errorf("after the second cleanup: %v, want only the resource bridge", names(vms))
	}
	if err := E2ECleanup(ctx, p.d, p.ref, ""); !errors.Is(err, drivers.ErrInvalidArgument) {
		t.Errorf("a cleanup with an empty prefix: %v, want a refusal", err)
	}
}

// TestE2EDriverShowsOnlyTheRun: through the wrapper the suite sees its own
// VMs under its own names and nothing else, cannot reach another VM by any
// name it passes, and cannot change a node.
func TestE2EDriverShowsOnlyTheRun(t *testing.T) {
	p := newE2EPlatform(t)
	ctx := context.Background()
	w := p.wrap(testPrefix)
	p.apply(tlCreate("tlr-e2e-ffffffff-web"))
	p.apply(tlCreate("web"))
	p.wrapped(w, tlCreate("web"))
	obs, err := w.Observe(ctx, p.ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.VMs) != 1 || obs.VMs[0].Name != "web" || len(obs.Nodes) != 2 {
		t.Fatalf("the wrapper shows %+v, want the run's web alone and both nodes", obs.VMs)
	}
	if foreign := E2EForeign(mustObserve(t, p), testPrefix); !slices.Equal(foreign, []string{"tlr-e2e-ffffffff-web", "web"}) {
		t.Errorf("foreign VMs: %v (the resource bridge is infrastructure, not foreign)", foreign)
	}
	// "web" through the wrapper is the run's web; the unprefixed one stays.
	p.wrapped(w, drivers.Op{Kind: drivers.OpDeleteVM, VM: "web"})
	if vms := p.observe(); vms["web"].Name == "" || vms["tlr-e2e-ffffffff-web"].Name == "" || vms[testPrefix+"web"].Name != "" {
		t.Errorf("after the run's delete-vm: %v", names(vms))
	}
	for _, op := range []drivers.Op{
		{Kind: drivers.OpEnableMigrationIPsec, Node: "node1"},
		{Kind: drivers.OpStartIgvmAgent, Node: "node2"},
	} {
		if _, err := w.Apply(ctx, p.ref, op); !errors.Is(err, drivers.ErrPrecondition) {
			t.Errorf("%s through the wrapper: %v, want a refusal", op.Kind, err)
		}
	}
	if n := mustObserve(t, p).Nodes; n[0].MigrationIPsec || n[1].MigrationIPsec {
		t.Error("a refused node op changed a node")
	}
}

func mustObserve(t *testing.T, p *e2ePlatform) *drivers.Observed {
	t.Helper()
	obs, err := p.d.Observe(context.Background(), p.ref)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// TestE2EMarked: the wrapper's create and set-annotations carry the managed
// tag, give each guest a computer name of its own, keep one the suite set,
// and leave the caller's params as they were.
func TestE2EMarked(t *testing.T) {
	w := &E2EDriver{prefix: testPrefix}
	cases := []struct {
		name string
		kind drivers.OpKind
		in   *drivers.Params
		want drivers.Annotations
		cn   string // "" any generated one
	}{
		{"create without annotations", drivers.OpCreateVM, &drivers.Params{}, drivers.Annotations{ManagedBy: drivers.ManagedBy}, ""},
		{"set-annotations clearing the marker", drivers.OpSetAnnotations, &drivers.Params{Annotations: &drivers.Annotations{SpecHash: "ab"}},
			drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab"}, ""},
		{"nil params", drivers.OpSetAnnotations, nil, drivers.Annotations{ManagedBy: drivers.ManagedBy}, ""},
		{"create with a computer name", drivers.OpCreateVM, &drivers.Params{OSProfile: &drivers.OSProfile{ComputerName: "mine"}},
			drivers.Annotations{ManagedBy: drivers.ManagedBy}, "mine"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before string
			if c.in != nil && c.in.Annotations != nil {
				before = c.in.Annotations.ManagedBy
			}
			got := w.marked(testPrefix+"web", c.kind, c.in)
			if *got.Annotations != c.want {
				t.Errorf("annotations %+v, want %+v", *got.Annotations, c.want)
			}
			if c.in != nil && c.in.Annotations != nil && c.in.Annotations.ManagedBy != before {
				t.Error("the caller's annotations were changed")
			}
			if c.kind == drivers.OpSetAnnotations && got.OSProfile != nil {
				t.Error("set-annotations got an OS profile")
			}
			if c.kind == drivers.OpCreateVM && c.cn != "" && got.OSProfile.ComputerName != c.cn {
				t.Errorf("computer name %q, want the suite's %q", got.OSProfile.ComputerName, c.cn)
			}
		})
	}
	a := w.marked(testPrefix+"web", drivers.OpCreateVM, nil).OSProfile.ComputerName
	b := w.marked(testPrefix+"db", drivers.OpCreateVM, nil).OSProfile.ComputerName
	if a == b || len(a) > 15 || computerName(a) != a {
		t.Errorf("computer names %q and %q: want two different NetBIOS names", a, b)
	}
}

// TestE2EPreflight: the run starts only on a target that has what it needs
// and holds nothing it would have to share, and creates nothing to find out.
func TestE2EPreflight(t *testing.T) {
	p := newE2EPlatform(t)
	ctx := context.Background()
	w := p.wrap(testPrefix)
	image := *tlCreate("x").Params.Image
	target := E2ETarget{Image: image, LogicalNetwork: "lnet"}
	check := func(what string, t2 E2ETarget, want string) {
		t.Helper()
		err := w.Preflight(ctx, p.ref, t2)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", what, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error saying %q", what, err, want)
		}
	}
	check("no gallery image", target, "never downloads one")
	var images int
	if _, err := p.c.arm.listImages(ctx, func(galleryImage) error { images++; return nil }); err != nil || images != 0 {
		t.Fatalf("preflight created a gallery image (%d, %v)", images, err)
	}
	if _, err := p.c.ensureImage(ctx, image); err != nil {
		t.Fatal(err)
	}
	check("ready", target, "")
	check("no such logical network", E2ETarget{Image: image, LogicalNetwork: "nope"}, "logical network nope")
	check("no logical network named", E2ETarget{Image: image}, envLogicalNetwork)
	if _, err := p.host.CreateLocalVM(ctx, simClusterName, "node1", "legacy"); err != nil {
		t.Fatal(err)
	}
	check("a VM of someone else", target, envAllowShared)
	check("shared allowed", E2ETarget{Image: image, LogicalNetwork: "lnet", AllowShared: true}, "")
	if _, err := p.host.CreateLocalVM(ctx, simClusterName, "node2", testPrefix+"old"); err != nil {
		t.Fatal(err)
	}
	check("the prefix in use", E2ETarget{Image: image, LogicalNetwork: "lnet", AllowShared: true}, "already carries this run's prefix")
}

// TestE2ESuiteCompiles: the opt-in suite (-tags azurelocal_e2e) type-checks
// and vets, so it does not rot while nobody runs it.
func TestE2ESuiteCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command")
		}
	}
	out, err := exec.CommandContext(t.Context(), goBin, "vet", "-tags", "azurelocal_e2e", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go vet -tags azurelocal_e2e: %v\n%s", err, out)
	}
}
