package arm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

func TestValidateFault(t *testing.T) {
	tests := []struct {
		name    string
		fault   arm.Fault
		wantErr string // "" when valid
		wantOp  string
	}{
		{name: "throttle", fault: arm.Fault{Operation: "Machines_Get", Throttle: 2, RetryAfter: 3 * time.Second}, wantOp: "Machines_Get"},
		{name: "operation case folded to the spec's", fault: arm.Fault{Operation: "virtualmachineinstances_createorupdate", FailAsync: 1}, wantOp: "VirtualMachineInstances_CreateOrUpdate"},
		{name: "every request", fault: arm.Fault{Operation: "*", Latency: time.Second}, wantOp: "*"},
		{name: "transient with status", fault: arm.Fault{Operation: "Machines_Get", Transient: 1, Status: 500}, wantOp: "Machines_Get"},
		{name: "unknown operation lists the known", fault: arm.Fault{Operation: "Machines_Reboot", Throttle: 1}, wantErr: "VirtualMachineInstances_Start"},
		{name: "no effect", fault: arm.Fault{Operation: "Machines_Get"}, wantErr: "does nothing"},
		{name: "negative count", fault: arm.Fault{Operation: "Machines_Get", Throttle: -1}, wantErr: "negative"},
		{name: "status not 5xx", fault: arm.Fault{Operation: "Machines_Get", Transient: 1, Status: 404}, wantErr: "5xx"},
		{name: "status without a count", fault: arm.Fault{Operation: "Machines_Get", Status: 503, Latency: time.Second}, wantErr: "count of transient"},
		{name: "retry-after without throttling", fault: arm.Fault{Operation: "Machines_Get", RetryAfter: time.Second, Transient: 1}, wantErr: "Retry-After needs"},
		{name: "output limit", fault: arm.Fault{Operation: "machineruncommands_createorupdate", OutputLimit: 4096}, wantOp: "MachineRunCommands_CreateOrUpdate"},
		{name: "output limit on a request that runs no command", fault: arm.Fault{Operation: "Machines_Get", OutputLimit: 4096}, wantErr: "--operation MachineRunCommands_CreateOrUpdate"},
		{name: "negative output limit", fault: arm.Fault{Operation: "*", OutputLimit: -1}, wantErr: "negative"},
		{name: "latency too long", fault: arm.Fault{Operation: "*", Latency: time.Hour}, wantErr: "over 10m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := arm.ValidateFault(tt.fault)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ValidateFault(%+v) = %v, want an error mentioning %q", tt.fault, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Operation != tt.wantOp {
				t.Fatalf("ValidateFault(%+v) = %+v, %v; want operation %s", tt.fault, got, err, tt.wantOp)
			}
		})
	}
}

// TestAdminFaultReachesServer: a fault injected through an Admin of the
// state dir (another process, as far as the Server can tell) throttles the
// running Server's next request, with its Retry-After, once.
func TestAdminFaultReachesServer(t *testing.T) {
	s := newSim(t)
	admin := arm.OpenAdmin(s.dir)
	if _, err := admin.InjectFault(arm.Fault{Operation: "machines_get", Throttle: 1, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if fs, err := admin.Faults(); err != nil || len(fs) != 1 || fs[0].Operation != "Machines_Get" {
		t.Fatalf("Faults() = %+v, %v", fs, err)
	}
	r := s.do("GET", machinePath("m1")+hcAPI, nil)
	if r.status != 429 || r.header.Get("Retry-After") != "3" {
		t.Fatalf("first GET after the fault: %d Retry-After %q, want 429 and 3", r.status, r.header.Get("Retry-After"))
	}
	s.must(404, "GET", machinePath("m1")+hcAPI, nil)
	if _, err := admin.InjectFault(arm.Fault{Operation: "*", Latency: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if n, err := admin.ClearFaults(); err != nil || n != 1 {
		t.Fatalf("ClearFaults() = %d, %v, want the one latency fault", n, err)
	}
	if fs, _ := admin.Faults(); len(fs) != 0 {
		t.Fatalf("after ClearFaults: %+v", fs)
	}
}

// TestPortalDelete: the VM goes from the cluster and its instance, run
// commands and machine from ARM (the next GETs are 404); its NIC stays.
func TestPortalDelete(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.vm("m1")
	s.lro(201, "PUT", machinePath("m1")+"/runCommands/rc1"+hcAPI, map[string]any{"location": "eastus",
		"properties": map[string]any{"source": map[string]any{"script": "hostname"}}})
	admin := arm.OpenAdmin(s.dir)
	ms, err := admin.Machines()
	if err != nil || len(ms) != 1 || ms[0].Name != "m1" || ms[0].VMID == "" {
		t.Fatalf("Machines() = %+v, %v; want m1 with its VM ID", ms, err)
	}
	got, err := admin.PortalDelete(context.Background(), s.host, ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VMID != ms[0].VMID || got.RunCommands != 1 || got.Canceled != 0 {
		t.Errorf("PortalDelete = %+v, want VM %s and one run command", got, ms[0].VMID)
	}
	if _, ok := s.host.VM(ms[0].VMID); ok {
		t.Error("the VM is still on the cluster")
	}
	s.must(404, "GET", machinePath("m1")+hcAPI, nil)
	s.must(404, "GET", vmiPath("m1")+hciAPI, nil)
	s.must(200, "GET", hciPath("networkInterfaces", "nic")+hciAPI, nil)
	if ms, _ := admin.Machines(); len(ms) != 0 {
		t.Errorf("Machines() after the delete: %+v", ms)
	}
	if _, err := admin.PortalDelete(context.Background(), s.host, machinePath("m1")); !errors.Is(err, arm.ErrNoMachine) {
		t.Errorf("deleting it again: %v, want ErrNoMachine", err)
	}
}

// TestPortalDeleteFailsRunningOperation: a create still running when the
// portal deletes the VM ends Failed with ResourceDeleted, so the client
// polling it is told.
func TestPortalDeleteFailsRunningOperation(t *testing.T) {
	s := startSim(t, t.TempDir(), arm.Options{OperationDelay: time.Hour})
	s.must(200, "PUT", machinePath("m1")+hcAPI, machineBody("HCI"))
	s.lroPending(t)
	r := s.must(201, "PUT", vmiPath("m1")+hciAPI, vmiBody("win11", true, true))
	got, err := arm.OpenAdmin(s.dir).PortalDelete(context.Background(), s.host, machinePath("m1"))
	if err != nil || got.Canceled != 1 || got.VMID != "" {
		t.Fatalf("PortalDelete = %+v, %v; want one operation failed and no VM placed yet", got, err)
	}
	op := s.must(200, "GET", r.header.Get("Azure-AsyncOperation"), nil)
	if op.prop("status") != "Failed" || op.prop("error.code") != "ResourceDeleted" {
		t.Errorf("the create's operation after the portal delete: %s", op.raw)
	}
	if s.host.Len() != 0 {
		t.Errorf("the cluster has %d VMs, want none", s.host.Len())
	}
}

// lroPending creates the image, network and NIC with operations that
// complete at once, on a server whose own operations wait an hour: the
// state dir is shared, so a second server completes them.
func (s *sim) lroPending(t *testing.T) {
	t.Helper()
	quick := startSim(t, s.dir, arm.Options{})
	quick.infra()
}

// refusingHost is a cluster whose node agent is down: it refuses deletes.
type refusingHost struct{ *arm.MemoryHost }

func (refusingHost) DeleteVM(context.Context, string) error {
	return errors.New("node node1: wssdagent is Stopped: start it on the node")
}

// TestPortalDeleteRefusedByCluster: when the cluster cannot delete the VM
// nothing changes in ARM either.
func TestPortalDeleteRefusedByCluster(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.vm("m1")
	_, err := arm.OpenAdmin(s.dir).PortalDelete(context.Background(), refusingHost{s.host}, machinePath("m1"))
	if err == nil || !strings.Contains(err.Error(), "wssdagent is Stopped") {
		t.Fatalf("PortalDelete with the cluster refusing: %v", err)
	}
	s.must(200, "GET", vmiPath("m1")+hciAPI, nil)
	s.must(200, "GET", machinePath("m1")+hcAPI, nil)
}

func TestPortalDeleteRefusesOtherIDs(t *testing.T) {
	admin := arm.OpenAdmin(t.TempDir())
	for _, id := range []string{
		"",
		hciPath("networkInterfaces", "nic"),
		"/subscriptions/x/resourceGroups/../providers/Microsoft.HybridCompute/machines/m1",
		"/subscriptions/x/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/..",
	} {
		if _, err := admin.PortalDelete(context.Background(), &arm.MemoryHost{}, id); err == nil || !strings.Contains(err.Error(), "not an Arc machine ID") {
			t.Errorf("PortalDelete(%q) = %v, want not an Arc machine ID", id, err)
		}
	}
}

// TestAdminFaultBeforeFirstServe: a fault can be staged on a state dir no
// server has used yet, and the first server applies it.
func TestAdminFaultBeforeFirstServe(t *testing.T) {
	dir := t.TempDir()
	admin := arm.OpenAdmin(dir)
	if fs, err := admin.Faults(); err != nil || len(fs) != 0 {
		t.Fatalf("Faults() on a fresh state dir = %+v, %v", fs, err)
	}
	if _, err := admin.InjectFault(arm.Fault{Operation: "Machines_Get", Transient: 1}); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, dir, arm.Options{})
	s.must(503, "GET", machinePath("m1")+hcAPI, nil)
	if n, err := arm.OpenAdmin(t.TempDir()).ClearFaults(); err != nil || n != 0 {
		t.Errorf("ClearFaults() on a fresh state dir = %d, %v", n, err)
	}
}
