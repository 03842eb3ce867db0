package azurelocal

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// The ARM incidents of the contract (issue 11, item 5) that only an ARM
// platform has: throttling, a long-running operation that ends Failed, a VM
// deleted in the portal while a request about it is in flight, tags edited
// by hand, and host agents that stop between plan and apply. Each runs the
// driver over the simulated Azure Local with every request checked against
// the spec.

func (p *contractPlatform) try(op drivers.Op) (drivers.Result, error) {
	op.Cluster = p.ref.Name
	return p.d.Apply(context.Background(), p.ref, op)
}

func (p *contractPlatform) must(t *testing.T, op drivers.Op) drivers.Result {
	t.Helper()
	r, err := p.try(op)
	if err != nil {
		t.Fatalf("%s %s: %v", op.Kind, op.Target(), err)
	}
	return r
}

func (p *contractPlatform) vms(t *testing.T) map[string]drivers.VM {
	t.Helper()
	obs, err := p.d.Observe(context.Background(), p.ref)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]drivers.VM{}
	for _, v := range obs.VMs {
		out[v.Name] = v
	}
	return out
}

func (p *contractPlatform) inject(t *testing.T, f arm.Fault) {
	t.Helper()
	if err := p.srv.Inject(f); err != nil {
		t.Fatal(err)
	}
}

// faultsLeft fails when an injected fault was not used up: the requests it
// was for were never sent (or never retried).
func (p *contractPlatform) faultsLeft(t *testing.T) {
	t.Helper()
	left, err := p.srv.Faults()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("faults not used up: %+v", left)
	}
}

func incidentCreate(name string) drivers.Op {
	op := tlCreate(name)
	op.Params.TargetNode = ""
	return op
}

// TestThrottlingIsRiddenOut: ARM answering 429 with Retry-After (and a 503
// now and then) is retried by the SDK's pipeline, honouring Retry-After, so
// the op succeeds as if nothing happened; throttling that outlasts what the
// client waits for is Transient, so apply may retry the step later.
func TestThrottlingIsRiddenOut(t *testing.T) {
	p := newContractPlatform(t)
	cases := []struct {
		name   string
		faults []arm.Fault
		op     drivers.Op
	}{
		{"create", []arm.Fault{{Operation: "VirtualMachineInstances_CreateOrUpdate", Throttle: 1, RetryAfter: time.Second},
			{Operation: "Machines_Get", Transient: 1}}, incidentCreate("thr-01")},
		{"stop", []arm.Fault{{Operation: "VirtualMachineInstances_Stop", Throttle: 1, RetryAfter: time.Second}}, drivers.Op{Kind: drivers.OpStopVM, VM: "thr-01"}},
		{"every request", []arm.Fault{{Operation: "*", Transient: 2}}, drivers.Op{Kind: drivers.OpStartVM, VM: "thr-01"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range tc.faults {
				p.inject(t, f)
			}
			if r := p.must(t, tc.op); !r.Changed {
				t.Errorf("%s through throttling: Changed = false (%s)", tc.op.Kind, r.Message)
			}
			p.faultsLeft(t)
		})
	}
	if v := p.vms(t)["thr-01"]; v.Power != drivers.PowerRunning {
		t.Fatalf("after the throttled ops: %+v, want Running", v)
	}
	t.Run("longer than the client waits", func(t *testing.T) {
		// A Retry-After over the pipeline's MaxRetryDelay is not waited for.
		p.inject(t, arm.Fault{Operation: "Machines_Get", Throttle: 1, RetryAfter: 5 * time.Second})
		_, err := p.try(drivers.Op{Kind: drivers.OpStopVM, VM: "thr-01"})
		if err == nil || !drivers.IsTransient(err) || !strings.Contains(err.Error(), "TooManyRequests") || !strings.HasPrefix(err.Error(), "vm/thr-01: stop-vm:") {
			t.Fatalf("throttled beyond the retries: %v; want a Transient vm/thr-01 error with ARM's TooManyRequests", err)
		}
		p.faultsLeft(t)
		p.must(t, drivers.Op{Kind: drivers.OpStopVM, VM: "thr-01"}) // the retry apply makes
	})
}

// TestFailedOperationThenSuccess: a long-running operation that ends Failed
// gives an error wrapping ARM's (with its code), not Transient, that leaves
// nothing half-made behind; the next Apply of the same op succeeds.
func TestFailedOperationThenSuccess(t *testing.T) {
	p := newContractPlatform(t)
	cases := []struct {
		name      string
		operation string
		op        drivers.Op
		check     func(t *testing.T, v drivers.VM, ok bool)
	}{
		{"create", "VirtualMachineInstances_CreateOrUpdate", incidentCreate("lro-01"), func(t *testing.T, v drivers.VM, ok bool) {
			if !ok || v.Power != drivers.PowerRunning || !identityHex.MatchString(v.VTPMIdentity) {
				t.Errorf("after the second create: %+v (observed %v), want a Running VM with a vTPM identity", v, ok)
			}
		}},
		{"stop", "VirtualMachineInstances_Stop", drivers.Op{Kind: drivers.OpStopVM, VM: "lro-01"}, func(t *testing.T, v drivers.VM, _ bool) {
			if v.Power != drivers.PowerOff {
				t.Errorf("after the second stop: %s, want Off", v.Power)
			}
		}},
		{"set-hardware", "VirtualMachineInstances_Update", drivers.Op{Kind: drivers.OpSetHardware, VM: "lro-01", Params: &drivers.Params{Processors: 4, MemoryMB: 8192}},
			func(t *testing.T, v drivers.VM, _ bool) {
				if v.Processors != 4 || v.MemoryMB != 8192 {
					t.Errorf("after the second set-hardware: %d processors, %d MB; want 4, 8192", v.Processors, v.MemoryMB)
				}
			}},
		{"start", "VirtualMachineInstances_Start", drivers.Op{Kind: drivers.OpStartVM, VM: "lro-01"}, func(t *testing.T, v drivers.VM, _ bool) {
			if v.Power != drivers.PowerRunning {
				t.Errorf("after the second start: %s, want Running", v.Power)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.inject(t, arm.Fault{Operation: tc.operation, FailAsync: 1})
			_, err := p.try(tc.op)
			var ae *armError
			if err == nil || !errors.As(err, &ae) || ae.Code != "InjectedFailure" || drivers.IsTransient(err) ||
				!strings.Contains(err.Error(), "ended Failed") || !strings.HasPrefix(err.Error(), tc.op.Target().String()+":") {
				t.Fatalf("%s whose operation ends Failed: %v; want a non-transient %s error wrapping ARM's InjectedFailure", tc.op.Kind, err, tc.op.Target())
			}
			p.faultsLeft(t)
			if tc.op.Kind == drivers.OpCreateVM {
				if v, ok := p.vms(t)[tc.op.VM]; ok {
					t.Errorf("a create whose operation failed is observed as a VM: %+v (the planner would never create it again)", v)
				}
			}
			if r := p.must(t, tc.op); !r.Changed {
				t.Errorf("the second %s: Changed = false (%s); the failed one did nothing, so this one must", tc.op.Kind, r.Message)
			}
			v, ok := p.vms(t)[tc.op.VM]
			tc.check(t, v, ok)
		})
	}
	// The cluster agrees with ARM about the hardware the failed update did not set.
	st, err := p.host.VM(context.Background(), p.vmID(t, "lro-01"))
	if err != nil || st.Processors != 4 || st.MemoryMB != 8192 {
		t.Errorf("the cluster's VM: %d processors, %d MB (%v); want 4, 8192", st.Processors, st.MemoryMB, err)
	}
}

// TestPortalDeleteMidApply: the VM is deleted in the portal while the
// driver's request about it is in flight (its power operation accepted and
// polled, or its request about to be sent). The op ends with ErrNotFound,
// never a hang or a panic; the next op is ErrNotFound; Observe no longer
// reports the VM.
func TestPortalDeleteMidApply(t *testing.T) {
	cases := []struct {
		name string
		when func(req *http.Request) bool // the request before which the portal deletes
		op   drivers.Op
	}{
		{"while its stop is polled", func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/operationStatuses/") },
			drivers.Op{Kind: drivers.OpStopVM, VM: "doomed"}},
		{"as its hardware update is sent", func(r *http.Request) bool { return r.Method == http.MethodPatch },
			drivers.Op{Kind: drivers.OpSetHardware, VM: "doomed", Params: &drivers.Params{Processors: 2, MemoryMB: 8192}}},
		{"as its tags are written", func(r *http.Request) bool { return r.Method == http.MethodPatch },
			drivers.Op{Kind: drivers.OpSetAnnotations, VM: "doomed", Params: &drivers.Params{Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "cd34"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newContractPlatform(t)
			p.must(t, incidentCreate("doomed"))
			p.must(t, incidentCreate("bystander"))
			machineID := p.arm(t).machinePath("doomed")
			var once sync.Once
			var delErr error
			hook := func(req *http.Request) {
				if tc.when(req) {
					once.Do(func() { _, delErr = arm.OpenAdmin(p.dir).PortalDelete(context.Background(), p.host, machineID) })
				}
			}
			p.onRequest.Store(&hook)
			_, err := p.try(tc.op)
			p.onRequest.Store(nil)
			if delErr != nil {
				t.Fatalf("portal delete: %v", delErr)
			}
			if !errors.Is(err, drivers.ErrNotFound) || drivers.IsTransient(err) {
				t.Fatalf("%s while the portal deletes the VM: %v; want ErrNotFound, not transient", tc.op.Kind, err)
			}
			for _, next := range []drivers.Op{{Kind: drivers.OpStartVM, VM: "doomed"}, tc.op} {
				if _, err := p.try(next); !errors.Is(err, drivers.ErrNotFound) {
					t.Errorf("%s after the portal delete: %v, want ErrNotFound", next.Kind, err)
				}
			}
			vms := p.vms(t)
			if v, ok := vms["doomed"]; ok {
				t.Errorf("a VM deleted in the portal is still observed: %+v", v)
			}
			if _, ok := vms["bystander"]; !ok {
				t.Error("the portal delete of one VM lost another")
			}
		})
	}
}

// TestPortalTagEditsThroughTheDriver: tlreconcile's tags edited in the portal into values
// it never writes keep the VM managed but protected, with no recorded
// identity (not trusted); set-annotations writes them whole again and keeps
// the administrator's own tags. Removing the managed-by tag hands the VM
// back: it is unmanaged and never touched again.
func TestPortalTagEditsThroughTheDriver(t *testing.T) {
	p := newContractPlatform(t)
	p.must(t, incidentCreate("tagged"))
	good := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab12", VTPMIdentity: strings.Repeat("0f", 32), Node: "node1"}
	cases := []struct {
		name, tag, value string
	}{
		{"protect not a bool", tagProtect, "maybe"},
		{"spec hash not hex", tagSpecHash, "sha256:AB12"},
		{"identity upper case", tagVTPMIdentity, strings.Repeat("0F", 32)},
		{"identity over the tag limit", tagVTPMIdentity, strings.Repeat("a", maxTagValue)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.must(t, drivers.Op{Kind: drivers.OpSetAnnotations, VM: "tagged", Params: &drivers.Params{Annotations: good}})
			setTag(t, p.arm(t), "tagged", "owner", "finance")
			setTag(t, p.arm(t), "tagged", tc.tag, tc.value)
			v := p.vms(t)["tagged"]
			if a := v.Annotations; a == nil || a.ManagedBy != drivers.ManagedBy || !a.Protect || a.VTPMIdentity != "" || a.SpecHash != "" {
				t.Fatalf("tag %s edited to %q: annotations %+v; want managed, protected, nothing else trusted", tc.tag, tc.value, a)
			}
			if r := p.must(t, drivers.Op{Kind: drivers.OpSetAnnotations, VM: "tagged", Params: &drivers.Params{Annotations: good}}); !r.Changed {
				t.Error("set-annotations over edited tags: Changed = false")
			}
			m, err := p.arm(t).getMachine(context.Background(), "tagged")
			if err != nil || m.Tags["owner"] != "finance" {
				t.Errorf("the administrator's own tag after set-annotations: %v (%v)", m.Tags, err)
			}
			if a := p.vms(t)["tagged"].Annotations; a == nil || *a != *good {
				t.Errorf("after set-annotations: %+v, want %+v", a, *good)
			}
		})
	}
	t.Run("managed-by removed", func(t *testing.T) {
		setTag(t, p.arm(t), "tagged", tagManagedBy, "someone-else")
		if a := p.vms(t)["tagged"].Annotations; a != nil {
			t.Fatalf("a VM whose managed-by tag names another tool: annotations %+v, want nil (unmanaged)", *a)
		}
		for _, op := range []drivers.Op{{Kind: drivers.OpStopVM, VM: "tagged"}, {Kind: drivers.OpDeleteVM, VM: "tagged"},
			{Kind: drivers.OpSetAnnotations, VM: "tagged", Params: &drivers.Params{Annotations: good}}} {
			if _, err := p.try(op); !errors.Is(err, drivers.ErrPrecondition) || !strings.Contains(err.Error(), "not managed") {
				t.Errorf("%s of a VM handed back: %v, want ErrPrecondition (not managed)", op.Kind, err)
			}
		}
	})
}

// TestAgentsStopBetweenPlanAndApply: host agents stop after the plan saw
// them running. A create whose node lost IGVmAgent or wssdagent, and a
// start of a VM there, are refused with ErrPrecondition naming the node
// and the agent; with the MOC cloud agent stopped no create can run, and the
// error says which agent; once the agents run again the same ops succeed.
func TestAgentsStopBetweenPlanAndApply(t *testing.T) {
	ctx := context.Background()
	for _, agent := range []cluster.Agent{cluster.AgentIGVm, cluster.AgentNode} {
		t.Run(string(agent), func(t *testing.T) {
			p := newContractPlatform(t)
			p.must(t, incidentCreate("there"))
			node := p.vms(t)["there"].Node
			p.must(t, drivers.Op{Kind: drivers.OpStopVM, VM: "there"})
			if err := p.host.SetAgent(ctx, simClusterName, node, agent, cluster.AgentStopped); err != nil {
				t.Fatal(err)
			}
			create := incidentCreate("new-there")
			create.Params.TargetNode = node
			for _, op := range []drivers.Op{create, {Kind: drivers.OpStartVM, VM: "there"}} {
				_, err := p.try(op)
				if !errors.Is(err, drivers.ErrPrecondition) || drivers.IsTransient(err) ||
					!strings.Contains(err.Error(), "node/"+node) || !strings.Contains(err.Error(), string(agent)) {
					t.Errorf("%s with %s stopped on %s: %v; want ErrPrecondition naming node/%s and %s", op.Kind, agent, node, err, node, agent)
				}
			}
			if _, ok := p.vms(t)["new-there"]; ok {
				t.Error("a refused create left a VM")
			}
			if err := p.host.SetAgent(ctx, simClusterName, node, agent, cluster.AgentRunning); err != nil {
				t.Fatal(err)
			}
			p.must(t, create)
			p.must(t, drivers.Op{Kind: drivers.OpStartVM, VM: "there"})
		})
	}
	t.Run(string(cluster.AgentCloud), func(t *testing.T) {
		p := newContractPlatform(t)
		st, err := p.host.Observe(ctx, simClusterName, cluster.ObserveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cloud := ""
		for _, n := range st.Nodes {
			if n.Agents[cluster.AgentCloud] == cluster.AgentRunning {
				cloud = n.Name
			}
		}
		if err := p.host.SetAgent(ctx, simClusterName, cloud, cluster.AgentCloud, cluster.AgentStopped); err != nil {
			t.Fatal(err)
		}
		_, err = p.try(incidentCreate("no-cloud"))
		if err == nil || drivers.IsTransient(err) || !strings.Contains(err.Error(), string(cluster.AgentCloud)) {
			t.Fatalf("create with the cloud agent stopped: %v; want an error naming %s", err, cluster.AgentCloud)
		}
		if _, ok := p.vms(t)["no-cloud"]; ok {
			t.Error("a create the cluster refused is observed as a VM")
		}
		if err := p.host.SetAgent(ctx, simClusterName, cloud, cluster.AgentCloud, cluster.AgentRunning); err != nil {
			t.Fatal(err)
		}
		if r := p.must(t, incidentCreate("no-cloud")); !r.Changed {
			t.Errorf("create once the cloud agent runs: Changed = false (%s)", r.Message)
		}
	})
}
