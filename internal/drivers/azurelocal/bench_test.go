package azurelocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// The driver's benchmarks (issue 11, Performance): Observe and plan over
// the simulated Azure Local at 1,000 and 10,000 VMs, and 1,000 creates under
// injected ARM latency. Every ARM request the driver sends is counted by a
// transport wrapper on Endpoint.HTTP (token requests are not ARM requests and
// are not counted). The benchmarks talk to the sim without the spec check on
// the way, so the numbers are the driver's and the sim's, not the
// validator's; the tests check conformance.
//
// State dirs go under TLRECONCILE_BENCH_DIR, else /dev/shm where there is
// one (every sim write is an fsynced atomic rename), else a temporary dir.

// countingTransport counts the ARM requests that pass it, by operation
// shape (method and the path's resource type), and sends them on.
type countingTransport struct {
	next  policy.Transporter
	total atomic.Int64
	mu    sync.Mutex
	by    map[string]int
}

func newCounting(next policy.Transporter) *countingTransport {
	return &countingTransport{next: next, by: map[string]int{}}
}

func (c *countingTransport) Do(req *http.Request) (*http.Response, error) {
	p := req.URL.Path
	if strings.HasPrefix(p, "/subscriptions/") || strings.HasPrefix(p, "/providers/") {
		c.total.Add(1)
		k := req.Method + " " + requestShape(p)
		c.mu.Lock()
		c.by[k]++
		c.mu.Unlock()
	}
	return c.next.Do(req)
}

// reset zeroes the counts and returns the total before.
func (c *countingTransport) reset() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.by)
	return c.total.Swap(0)
}

func (c *countingTransport) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.by))
	for k, v := range c.by {
		out[k] = v
	}
	return out
}

// requestShape is a path with its names dropped: the resource types only.
func requestShape(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	var out []string
	for i := 0; i < len(segs); i++ {
		s := strings.ToLower(segs[i])
		switch s {
		case "subscriptions", "resourcegroups", "locations":
			i++ // skip its name
			continue
		case "providers":
			continue
		}
		if strings.Contains(s, ".") { // a namespace
			continue
		}
		out = append(out, s)
		if i+1 < len(segs) && s != "resources" {
			i++ // its name
		}
	}
	return strings.Join(out, "/")
}

func benchRoot(b *testing.B) string {
	b.Helper()
	root := os.Getenv("TLRECONCILE_BENCH_DIR")
	if root == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			root = "/dev/shm"
		}
	}
	if root == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(root, "tlreconcile-azlbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// benchPlatform is the simulated Azure Local with the driver on it, for
// benchmarks: no spec check, every ARM request counted.
type benchPlatform struct {
	b       *testing.B
	dir     string
	host    *cluster.Host
	srv     *arm.Server
	ep      Endpoint
	count   *countingTransport
	d       *Driver
	ref     drivers.ClusterRef
	image   string
	nic     string
	seedDur time.Duration
}

func newBenchPlatform(b *testing.B) *benchPlatform {
	b.Helper()
	st := startSimStack(b, benchRoot(b), nil)
	st.hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	count := newCounting(st.hc)
	ep := st.endpoint(count)
	ep.GuestIdentity, ep.TrustRecordedIdentities = true, true
	ep.Retry, ep.PollFrequency = policy.RetryOptions{MaxRetries: 3, RetryDelay: 5 * time.Millisecond}, 5*time.Millisecond
	ep = withLogicalNetwork(b, ep)
	p := &benchPlatform{b: b, dir: st.dir, host: st.host, srv: st.srv, ep: ep, count: count,
		ref: drivers.ClusterRef{Name: simClusterName, Driver: Name, Nodes: []string{"node1", "node2"}}}
	p.d = p.newDriver()
	cl, err := p.d.connect(context.Background(), p.ref)
	if err != nil {
		b.Fatal(err)
	}
	if p.image, err = cl.ensureImage(context.Background(), *tlCreate("x").Params.Image); err != nil {
		b.Fatal(err)
	}
	if p.nic, err = cl.ensureNIC(context.Background(), "bench-shared", nil); err != nil {
		b.Fatal(err)
	}
	return p
}

// newDriver is a fresh driver on the platform (a new process's: nothing
// remembered from an earlier Observe).
func (p *benchPlatform) newDriver() *Driver {
	d := New(func(context.Context, drivers.ClusterRef) (Endpoint, error) { return p.ep, nil })
	p.b.Cleanup(func() { _ = d.Close() })
	return d
}

func benchVMName(i int) string { return fmt.Sprintf("avd-%05d", i) }

// seed creates n managed trusted-launch VMs straight through the driver's
// ARM client: per VM its Arc machine (with tlreconcile's tags) and its VM
// instance, followed to the end of its create, which places the Hyper-V VM
// with its key and a vTPM whose guest boots (cluster.Host.PlaceVM behind
// the sim's ARM). That is create-vm without its per-VM checks and NIC: every
// VM shares one NIC (the sim allows it), which halves the seed. Workers run
// 4 × GOMAXPROCS at once; writes in the resource group serialise on its lock
// in the sim, as they do for every client.
func (p *benchPlatform) seed(n int) {
	p.b.Helper()
	ctx := context.Background()
	cl, err := p.d.connect(ctx, p.ref)
	if err != nil {
		p.b.Fatal(err)
	}
	tags, err := tagsWithAnnotations(nil, &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab12"})
	if err != nil {
		p.b.Fatal(err)
	}
	params := tlCreate("x").Params
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := benchVMName(i)
				_, err := cl.arm.putMachine(ctx, name, tags)
				if err == nil {
					_, err = cl.arm.putVM(ctx, name, cl.vmInstanceFor(name, params, p.image, p.nic, ""))
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("seed %s: %w", name, err))
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		p.b.Fatal(err)
	}
	p.seedDur = time.Since(start)
	p.count.reset()
}

// recordIdentities writes each VM's identity and node into its tags, as
// apply's set-annotations does after verifying them (untimed).
func (p *benchPlatform) recordIdentities(obs *drivers.Observed) {
	p.b.Helper()
	ctx := context.Background()
	cl, err := p.d.connect(ctx, p.ref)
	if err != nil {
		p.b.Fatal(err)
	}
	work := make(chan drivers.VM)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for v := range work {
				tags, err := tagsWithAnnotations(nil, &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab12", VTPMIdentity: v.VTPMIdentity, Node: v.Node})
				if err == nil {
					_, err = cl.arm.setMachineTags(ctx, v.Name, tags)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for _, v := range obs.VMs {
		if v.Annotations != nil {
			work <- v
		}
	}
	close(work)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		p.b.Fatal(err)
	}
}

// observe is one Observe on d that must see want managed VMs.
func (p *benchPlatform) observe(d *Driver, want int) *drivers.Observed {
	p.b.Helper()
	obs, err := d.Observe(context.Background(), p.ref)
	if err != nil {
		p.b.Fatal(err)
	}
	managed := 0
	for _, v := range obs.VMs {
		if v.Annotations != nil {
			managed++
		}
	}
	if managed != want {
		p.b.Fatalf("observed %d managed VMs, want %d", managed, want)
	}
	return obs
}

func benchVMs(b *testing.B, def int) int {
	b.Helper()
	s := os.Getenv("TLRECONCILE_BENCH_VMS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("TLRECONCILE_BENCH_VMS=%q: want a number of VMs", s)
	}
	return n
}

// BenchmarkObserve1000 and BenchmarkObserve10000: one Observe of a cluster
// of that many managed, running trusted-launch VMs on two nodes. The parent
// seeds once (untimed; its time is reported by Memory as seed-s); each
// sub-benchmark times one way of observing:
//   - Warm: the same driver observes again (a watch loop's resync): the
//     identities it read last time are reused where nothing that could
//     change them changed.
//   - Fresh: a new driver each time (a CLI's plan or apply), with every
//     VM's identity and node recorded in its tags (as apply leaves them).
//   - First: the parent's first Observe (untimed by the framework, its wall
//     time reported as ns/op): every identity read from its guest.
//
// arm-requests/op is the number of ARM requests one Observe sent.
func BenchmarkObserve1000(b *testing.B) { benchObserve(b, benchVMs(b, 1000)) }

// BenchmarkObserve10000: see BenchmarkObserve1000.
func BenchmarkObserve10000(b *testing.B) { benchObserve(b, 10_000) }

func benchObserve(b *testing.B, n int) {
	p := newBenchPlatform(b)
	p.seed(n)
	first := time.Now()
	p.observe(p.d, n) // reads every identity once
	firstDur := time.Since(first)
	firstReqs := p.count.reset()
	p.recordIdentities(p.observe(p.d, n))
	p.count.reset()

	b.Run("Warm", func(b *testing.B) {
		b.ReportAllocs()
		p.count.reset()
		for b.Loop() {
			p.observe(p.d, n)
		}
		b.ReportMetric(float64(p.count.reset())/float64(b.N), "arm-requests/op")
	})
	b.Run("Fresh", func(b *testing.B) {
		b.ReportAllocs()
		p.count.reset()
		for b.Loop() {
			d := p.newDriver()
			p.observe(d, n)
			_ = d.Close()
		}
		b.ReportMetric(float64(p.count.reset())/float64(b.N), "arm-requests/op")
	})
	b.Run("First", func(b *testing.B) {
		b.ReportMetric(float64(firstDur.Nanoseconds()), "ns/op")
		b.ReportMetric(float64(firstReqs), "arm-requests/op")
	})
	b.Run("Memory", func(b *testing.B) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(ms.HeapAlloc), "heap-bytes")
		b.ReportMetric(p.seedDur.Seconds(), "seed-s")
	})
}

// BenchmarkPlan1000 and BenchmarkPlan10000: Observe through the driver
// (warm) and plan.Build against a desired state that declares every seeded
// VM as it is: what `tlreconcile plan` costs on a cluster in sync, end to
// end below the CLI.
func BenchmarkPlan1000(b *testing.B) { benchPlan(b, benchVMs(b, 1000)) }

// BenchmarkPlan10000: see BenchmarkPlan1000.
func BenchmarkPlan10000(b *testing.B) { benchPlan(b, 10_000) }

func benchPlan(b *testing.B, n int) {
	p := newBenchPlatform(b)
	p.seed(n)
	p.observe(p.d, n)
	desired := benchDesired(n)
	b.ReportAllocs()
	p.count.reset()
	for b.Loop() {
		obs := p.observe(p.d, n)
		if _, err := plan.Build(desired, map[string]*drivers.Observed{simClusterName: obs}, plan.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.count.reset())/float64(b.N), "arm-requests/op")
}

func benchDesired(n int) *spec.Desired {
	im := tlCreate("x").Params.Image
	img := spec.Image{Publisher: im.Publisher, Offer: im.Offer, Sku: im.Sku, Version: im.Version}
	d := &spec.Desired{
		Clusters: []spec.Cluster{{Name: simClusterName, Driver: "sim", Nodes: []string{"node1", "node2"}}},
		Catalog:  []spec.CatalogImage{{Image: img, OS: "windows", BuiltIn: true}},
	}
	for i := range n {
		d.VMs = append(d.VMs, spec.VM{Name: benchVMName(i), Cluster: simClusterName, SecurityType: spec.SecurityTrustedLaunch,
			Image: img, Processors: 2, MemoryMB: 4096, SecureBoot: spec.SecureBoot{Enabled: true, Template: spec.TemplateMicrosoftWindows},
			VTPM: spec.VTPM{Enabled: true}, Power: spec.PowerRunning})
	}
	return d
}

// BenchmarkApplyCreates1000Latency50ms: 1,000 create-vm ops through
// Driver.Apply, 10 at a time (apply's default parallelism), with 50 ms of
// latency injected on every ARM request. ideal-s is requests per create ×
// 50 ms × 1,000 / 10: what the creates would take if each request cost only
// its latency; ratio is the wall time over that.
func BenchmarkApplyCreates1000Latency50ms(b *testing.B) {
	const latency, parallel = 50 * time.Millisecond, 10
	n := benchVMs(b, 1000)
	for b.Loop() {
		b.StopTimer()
		p := newBenchPlatform(b)
		if err := p.srv.Inject(arm.Fault{Operation: "*", Latency: latency}); err != nil {
			b.Fatal(err)
		}
		d := p.newDriver()
		p.count.reset()
		b.StartTimer()
		start := time.Now()
		applyCreates(b, d, p.ref, n, parallel)
		wall := time.Since(start)
		b.StopTimer()
		reqs := p.count.reset()
		perCreate := float64(reqs) / float64(n)
		ideal := time.Duration(float64(latency) * float64(reqs) / parallel)
		b.ReportMetric(perCreate, "arm-requests/create")
		b.ReportMetric(ideal.Seconds(), "ideal-s")
		b.ReportMetric(wall.Seconds()/ideal.Seconds(), "ratio")
		b.StartTimer()
	}
}

func applyCreates(b *testing.B, d *Driver, ref drivers.ClusterRef, n, parallel int) {
	b.Helper()
	applyOps(b, d, ref, n, parallel, func(i int) drivers.Op {
		op := tlCreate(benchVMName(i))
		op.Cluster = ref.Name
		return op
	}, nil)
}

// BenchmarkAttest1000: 1,000 running trusted-launch VMs attested through
// Driver.Apply, 10 at a time (apply's default parallelism): each a Run
// Command into the simulated guest (the real agent on its vTPM), credential
// activation (first contact: a second Run Command), verification and the
// tags. The creates are set-up, not timed.
func BenchmarkAttest1000(b *testing.B) {
	const parallel = 10
	n := benchVMs(b, 1000)
	p := newBenchPlatform(b)
	applyCreates(b, p.d, p.ref, n, parallel)
	for b.Loop() {
		start := time.Now()
		applyOps(b, p.d, p.ref, n, parallel, func(i int) drivers.Op {
			return drivers.Op{Kind: drivers.OpAttest, Cluster: p.ref.Name, VM: benchVMName(i)}
		}, func(res drivers.Result) error {
			if !strings.HasPrefix(res.Message, "verified") {
				return errors.New(res.Message)
			}
			return nil
		})
		wall := time.Since(start)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(wall.Milliseconds())/float64(n)*parallel, "ms/attest")
	}
}

// applyOps runs op(0..n-1) through d.Apply, parallel at a time; check (when
// set) judges each result.
func applyOps(b *testing.B, d *Driver, ref drivers.ClusterRef, n, parallel int, op func(int) drivers.Op, check func(drivers.Result) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range parallel {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				res, err := d.Apply(context.Background(), ref, op(i))
				if err == nil && check != nil {
					err = check(res)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStopStart1000: 1,000 running VMs stopped, then started again,
// through Driver.Apply, 10 at a time: each power op asks the owner node
// for the VM's state (ARM's powerState lags the node) and goes through ARM.
// The creates are set-up, not timed.
func BenchmarkStopStart1000(b *testing.B) {
	const parallel = 10
	n := benchVMs(b, 1000)
	p := newBenchPlatform(b)
	applyCreates(b, p.d, p.ref, n, parallel)
	for b.Loop() {
		start := time.Now()
		for _, kind := range []drivers.OpKind{drivers.OpStopVM, drivers.OpStartVM} {
			applyOps(b, p.d, p.ref, n, parallel, func(i int) drivers.Op {
				return drivers.Op{Kind: kind, Cluster: p.ref.Name, VM: benchVMName(i), Params: &drivers.Params{}}
			}, func(res drivers.Result) error {
				if !res.Changed {
					return errors.New(res.Message)
				}
				return nil
			})
		}
		wall := time.Since(start)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(wall.Milliseconds())/float64(2*n)*parallel, "ms/op")
	}
}
