package azurelocal

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// perfPlatform is simPlatform (spec-checked ARM, the real cluster model)
// with the ARM server at hand for faults, every ARM request counted, and a
// hook that may rewrite answers on the way back.
type perfPlatform struct {
	*simPlatform
	srv   *arm.Server
	count *countingTransport
	ep    Endpoint
}

// rewriter edits an answer before the driver reads it (nil: none).
type rewriter func(req *http.Request, resp *http.Response)

type rewriting struct {
	next    policy.Transporter
	rewrite rewriter
}

func (r rewriting) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err == nil && r.rewrite != nil {
		r.rewrite(req, resp)
	}
	return resp, err
}

func newPerfPlatform(t *testing.T, rewrite rewriter) *perfPlatform {
	t.Helper()
	return newPerfPlatformOf(t, rewrite, nil)
}

// newPerfPlatformOf is newPerfPlatform with the sim's clusters given (nil:
// the default one); the driver is on the first.
func newPerfPlatformOf(t *testing.T, rewrite rewriter, clusters []cluster.Spec) *perfPlatform {
	t.Helper()
	st := startSimStack(t, "", clusters)
	count := newCounting(rewriting{next: st.checked(t), rewrite: rewrite})
	ep := st.endpoint(count)
	ep.GuestIdentity, ep.TrustRecordedIdentities = true, true
	ep.Retry, ep.PollFrequency = policy.RetryOptions{MaxRetries: 3, RetryDelay: 5 * time.Millisecond}, 10*time.Millisecond
	ep = withLogicalNetwork(t, ep)
	p := &perfPlatform{srv: st.srv, count: count, ep: ep}
	p.simPlatform = &simPlatform{t: t, host: st.host, ref: drivers.ClusterRef{Name: simClusterName, Driver: Name, Nodes: []string{"node1", "node2"}}}
	p.d = p.newDriver()
	return p
}

// newDriver is a fresh driver on the same endpoint (a new process's).
func (p *perfPlatform) newDriver() *Driver {
	d := New(func(context.Context, drivers.ClusterRef) (Endpoint, error) { return p.ep, nil })
	p.t.Cleanup(func() { _ = d.Close() })
	return d
}

// requests counts the ARM requests of one shape (requestShape) since the
// last reset, e.g. "GET machines/virtualmachineinstances".
func (p *perfPlatform) requests(shape string) int { return p.count.snapshot()[shape] }

const (
	shapeGetVMI  = "GET machines/virtualmachineinstances"
	shapeGraph   = "POST resources"
	shapeRunCmd  = "PUT machines/runcommands"
	shapeListVMs = "GET machines"
)

func observeOn(t *testing.T, d *Driver, ref drivers.ClusterRef) map[string]drivers.VM {
	t.Helper()
	obs, err := d.Observe(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]drivers.VM{}
	for _, v := range obs.VMs {
		out[v.Name] = v
	}
	return out
}

// TestObserveThroughResourceGraph: with Resource Graph serving, Observe
// sends no GET per VM instance, and sees what the per-VM GETs see; when
// Resource Graph refuses (403, as an ARM without it does) Observe falls
// back to the GETs, sees the same, and asks Resource Graph no more.
func TestObserveThroughResourceGraph(t *testing.T) {
	p := newPerfPlatform(t, nil)
	for _, name := range []string{"avd-a", "avd-b", "avd-c"} {
		p.apply(tlCreate(name))
	}
	p.count.reset()
	viaGraph := observeOn(t, p.d, p.ref)
	if g, v := p.requests(shapeGraph), p.requests(shapeGetVMI); g != 1 || v != 0 {
		t.Fatalf("observe through Resource Graph: %d graph queries, %d instance GETs; want 1 and 0 (%v)", g, v, p.count.snapshot())
	}
	if len(viaGraph) != 4 { // and the resource bridge
		t.Fatalf("observed %d VMs: %v", len(viaGraph), viaGraph)
	}

	fresh := p.newDriver()
	if err := p.srv.Inject(arm.Fault{Operation: "Resources", Transient: 1000, Status: http.StatusForbidden}); err != nil {
		t.Fatal(err)
	}
	p.count.reset()
	viaGets := observeOn(t, fresh, p.ref)
	if g, v := p.requests(shapeGraph), p.requests(shapeGetVMI); g != 1 || v != 3 {
		t.Fatalf("observe with Resource Graph refused: %d graph queries, %d instance GETs; want 1 and 3", g, v)
	}
	for name, want := range viaGraph {
		got := viaGets[name]
		want.VTPMIdentity, got.VTPMIdentity = "", "" // read separately; compared by the identity tests
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: through GETs %+v, through Resource Graph %+v", name, got, want)
		}
	}
	p.count.reset()
	observeOn(t, fresh, p.ref)
	if g := p.requests(shapeGraph); g != 0 {
		t.Fatalf("asked Resource Graph %d times after it refused", g)
	}
}

// TestObserveSeesAVMResourceGraphHasNotIndexed: Resource Graph trails ARM;
// a VM whose instance is not in its answer yet is read with a GET, never
// observed as absent (which would plan a second create).
func TestObserveSeesAVMResourceGraphHasNotIndexed(t *testing.T) {
	hide := "avd-new"
	p := newPerfPlatform(t, func(req *http.Request, resp *http.Response) {
		if req.URL.Path != graphPath || resp.StatusCode != http.StatusOK {
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if json.Unmarshal(raw, &body) == nil {
			var kept []any
			for _, row := range body["data"].([]any) {
				if !strings.Contains(strings.ToLower(row.(map[string]any)["id"].(string)), "/machines/"+hide+"/") {
					kept = append(kept, row)
				}
			}
			body["data"] = kept
			raw, _ = json.Marshal(body)
		}
		resp.Body = io.NopCloser(bytes.NewReader(raw))
	})
	p.apply(tlCreate("avd-old"))
	p.apply(tlCreate(hide))
	p.count.reset()
	vms := observeOn(t, p.d, p.ref)
	if vm, ok := vms[hide]; !ok || vm.ID == "" || vm.Annotations == nil || !vm.TPMEnabled {
		t.Fatalf("the VM Resource Graph has not indexed: %+v (present %v)", vm, ok)
	}
	if v := p.requests(shapeGetVMI); v != 1 {
		t.Fatalf("%d instance GETs, want 1 (the unindexed VM only)", v)
	}
}

func TestRequestShape(t *testing.T) {
	for path, want := range map[string]string{
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.HybridCompute/machines":                                                                       "machines",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.HybridCompute/machines/vm1/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default": "machines/virtualmachineinstances",
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.HybridCompute/machines/vm1/runCommands/x":                                                     "machines/runcommands",
		"/providers/Microsoft.ResourceGraph/resources":                                                                                                       "resources",
		"/subscriptions/s/providers/Microsoft.AzureStackHCI/locations/eastus/operationStatuses/abc":                                                          "operationstatuses",
	} {
		if got := requestShape(path); got != want {
			t.Errorf("requestShape(%s) = %q, want %q", path, got, want)
		}
	}
}
