package azurelocal

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/drivertest"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// contractPlatform is the simulated Azure Local a contract scenario runs on:
// its state dir, the cluster model, the ARM server (HTTPS on loopback, every
// resource call checked against Microsoft's spec) and the driver on it.
type contractPlatform struct {
	dir  string
	host *cluster.Host
	srv  *arm.Server
	d    *Driver
	ref  drivers.ClusterRef
	// onRequest, when set, sees every request the driver sends to ARM just
	// before it goes out: a test does something "in the portal" at an exact
	// point of an apply.
	onRequest atomic.Pointer[func(*http.Request)]
}

// hooked calls the platform's onRequest before sending each request.
type hooked struct {
	p    *contractPlatform
	next http.RoundTripper
}

func (h hooked) RoundTrip(req *http.Request) (*http.Response, error) {
	if f := h.p.onRequest.Load(); f != nil {
		(*f)(req)
	}
	return h.next.RoundTrip(req)
}

// newContractPlatform stands the simulated Azure Local up for one scenario.
func newContractPlatform(t *testing.T) *contractPlatform {
	t.Helper()
	st := startSimStack(t, "", nil)
	p := &contractPlatform{dir: st.dir, host: st.host, srv: st.srv,
		ref: drivers.ClusterRef{Name: simClusterName, Driver: Name, Nodes: []string{"node2", "node1"}}}
	ep := st.endpoint(&http.Client{Transport: hooked{p: p, next: st.checked(t).Transport}})
	ep.GuestIdentity = true
	ep.Retry = policy.RetryOptions{MaxRetries: 3, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 1500 * time.Millisecond}
	ep.PollFrequency = 10 * time.Millisecond
	ep = withLogicalNetwork(t, ep)
	p.d = New(func(context.Context, drivers.ClusterRef) (Endpoint, error) { return ep, nil })
	t.Cleanup(func() { _ = p.d.Close() })
	return p
}

// arm is the platform's ARM client (the driver's own pipeline), for changes
// made "in the portal".
func (p *contractPlatform) arm(t testing.TB) *armClient {
	t.Helper()
	c, err := p.d.connect(context.Background(), p.ref)
	if err != nil {
		t.Fatal(err)
	}
	return c.arm
}

// vmID is the Hyper-V VM ID of the VM named vm, as ARM has it.
func (p *contractPlatform) vmID(t testing.TB, vm string) string {
	t.Helper()
	v, err := p.arm(t).getVM(context.Background(), vm)
	if err != nil || v.Properties.VMID == "" {
		t.Fatalf("vm/%s: no VM ID in ARM: %v", vm, err)
	}
	return v.Properties.VMID
}

// clusterAgentState is the cluster model's agent state of a contract one.
func clusterAgentState(t testing.TB, s drivers.AgentState) cluster.AgentState {
	t.Helper()
	switch s {
	case drivers.AgentRunning:
		return cluster.AgentRunning
	case drivers.AgentStopped:
		return cluster.AgentStopped
	}
	t.Fatalf("the simulated Azure Local cannot put an agent into state %q (its agents are always installed)", s)
	return ""
}

// TestContract runs the drivers contract suite on azurelocal over the
// simulated Azure Local: the same scenarios the hyperv and sim drivers pass,
// in the Azure Local profile's terms, plus the platform incidents.
func TestContract(t *testing.T) {
	var platforms sync.Map // *Driver -> *contractPlatform
	of := func(t *testing.T, d drivers.Driver) *contractPlatform {
		t.Helper()
		p, ok := platforms.Load(d)
		if !ok {
			t.Fatal("driver without a simulated platform")
		}
		return p.(*contractPlatform)
	}
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) (drivers.Driver, drivers.ClusterRef) {
			p := newContractPlatform(t)
			platforms.Store(p.d, p)
			return p.d, p.ref
		},
		Reopen: func(t *testing.T, d drivers.Driver) drivers.Driver {
			t.Helper()
			fresh := New(d.(*Driver).resolve)
			t.Cleanup(func() { _ = fresh.Close() })
			return fresh
		},
		SetAgent: func(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, node string, state drivers.AgentState) {
			t.Helper()
			if err := of(t, d).host.SetAgent(t.Context(), ref.Name, node, cluster.AgentIGVm, clusterAgentState(t, state)); err != nil {
				t.Fatal(err)
			}
		},
		AgentStates: []drivers.AgentState{drivers.AgentStopped},
		SetNotes: func(t *testing.T, d drivers.Driver, _ drivers.ClusterRef, vm, notes string) {
			t.Helper()
			setTag(t, of(t, d).arm(t), vm, "notes", notes)
		},
		Notes: func(t *testing.T, d drivers.Driver, _ drivers.ClusterRef, vm string) string {
			t.Helper()
			m, err := of(t, d).arm(t).getMachine(context.Background(), vm)
			if err != nil {
				t.Fatal(err)
			}
			return m.Tags["notes"]
		},
		LoseVTPM: func(t *testing.T, d drivers.Driver, _ drivers.ClusterRef, vm string) {
			t.Helper()
			p := of(t, d)
			id := p.vmID(t, vm)
			st, err := p.host.VM(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			to := "node1"
			if st.Node == to {
				to = "node2"
			}
			if err := p.host.MoveVM(t.Context(), id, cluster.Target{Node: to}, false); err != nil {
				t.Fatal(err)
			}
		},
		DeleteOutOfBand: func(t *testing.T, d drivers.Driver, _ drivers.ClusterRef, vm string) {
			t.Helper()
			p := of(t, d)
			if _, err := arm.OpenAdmin(p.dir).PortalDelete(t.Context(), p.host, p.arm(t).machinePath(vm)); err != nil {
				t.Fatal(err)
			}
		},
		CreateUnmanaged: func(t *testing.T, d drivers.Driver, _ drivers.ClusterRef, vm string) {
			t.Helper()
			of(t, d).createForeign(t, vm)
		},
		TamperAnnotations: func(t *testing.T, d drivers.Driver, _ drivers.ClusterRef, vm string) {
			t.Helper()
			setTag(t, of(t, d).arm(t), vm, tagProtect, "maybe")
		},
	})
}

// setTag sets one tag of the Arc machine of vm through ARM, keeping the
// others, as someone editing tags in the portal does.
func setTag(t testing.TB, c *armClient, vm, name, value string) {
	t.Helper()
	ctx := context.Background()
	m, err := c.getMachine(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{name: value}
	for k, v := range m.Tags {
		if k != name {
			tags[k] = v
		}
	}
	if _, err := c.setMachineTags(ctx, vm, tags); err != nil {
		t.Fatal(err)
	}
}

// createForeign creates an Arc VM through ARM as the portal or az would,
// without tlreconcile's tags: a VM tlreconcile does not manage.
func (p *contractPlatform) createForeign(t testing.TB, vm string) {
	t.Helper()
	ctx := context.Background()
	c, err := p.d.connect(ctx, p.ref)
	if err != nil {
		t.Fatal(err)
	}
	image, err := c.ensureImage(ctx, drivers.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"})
	if err != nil {
		t.Fatal(err)
	}
	nic, err := c.ensureNIC(ctx, vm, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.arm.putMachine(ctx, vm, map[string]string{"owner": "finance"}); err != nil {
		t.Fatal(err)
	}
	params := &drivers.Params{SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: drivers.Bool(true), VTPM: drivers.Bool(true), Processors: 2, MemoryMB: 2048}
	if _, err := c.arm.putVM(ctx, vm, c.vmInstanceFor(vm, params, image, nic, "")); err != nil {
		t.Fatal(err)
	}
}
