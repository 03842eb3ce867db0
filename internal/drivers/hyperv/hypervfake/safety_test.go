package hypervfake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

func mustApply(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, op drivers.Op) drivers.Result {
	t.Helper()
	op.Cluster = ref.Name
	res, err := d.Apply(t.Context(), ref, op)
	if err != nil {
		t.Fatalf("%s %s: %v", op.Kind, op.VM, err)
	}
	return res
}

func managed() *drivers.Annotations { return &drivers.Annotations{ManagedBy: drivers.ManagedBy} }

func createOp(name, node string, a *drivers.Annotations) drivers.Op {
	return drivers.Op{Kind: drivers.OpCreateVM, VM: name, Params: &drivers.Params{
		Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: 2, MemoryMB: 2048, TargetNode: node, Annotations: a}}
}

func names(t *testing.T, d drivers.Driver, ref drivers.ClusterRef) []string {
	t.Helper()
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, vm := range obs.VMs {
		out = append(out, vm.Name)
	}
	return out
}

// infraMarked is the hyperv driver with some VMs reported as platform infrastructure (an Arc
// resource bridge VM, say), which nothing may change whatever its name and Notes say.
type infraMarked struct {
	drivers.Driver
	infra map[string]bool
}

func (w infraMarked) Observe(ctx context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	obs, err := w.Driver.Observe(ctx, ref)
	if err != nil {
		return nil, err
	}
	for i := range obs.VMs {
		obs.VMs[i].Infrastructure = w.infra[obs.VMs[i].Name]
	}
	return obs, nil
}

// TestE2ECleanupTouchesOnlyItsOwnVMs (issue 13, item 1): on a cluster holding production VMs
// (unmanaged, one running; managed by another run; a look-alike name without the marker) and
// an infrastructure VM that even carries the run's prefix and a forged marker, the e2e
// cleanup deletes exactly the VMs of its own run, also a running one (Stop-VM -TurnOff, then
// Remove-VM: learn.microsoft.com/powershell/module/hyper-v/stop-vm, remove-vm); E2EForeign
// names the rest, which the suite refuses to start beside unless TLR_E2E_ALLOW_SHARED=1.
func TestE2ECleanupTouchesOnlyItsOwnVMs(t *testing.T) {
	ref := testRef()
	hd, host := newDriver(t, ref, hypervfake.Options{})
	ctx := t.Context()
	if _, err := hd.Observe(ctx, ref); err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"prod-db", "prod-web"} {
		if err := host.Sim().CreateUnmanaged(ctx, ref.Name, n, hvmodel.UnmanagedVM{Running: i == 0}); err != nil {
			t.Fatal(err)
		}
	}
	prefix := hyperv.E2EPrefix()
	d := infraMarked{Driver: hd, infra: map[string]bool{prefix + "arb": true}}
	mustApply(t, d, ref, createOp("managed-elsewhere", "node1", managed()))
	mustApply(t, d, ref, createOp(prefix+"no-marker", "node1", nil))
	mustApply(t, d, ref, createOp(prefix+"arb", "node2", managed()))
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: prefix + "arb"})
	mustApply(t, d, ref, createOp(prefix+"a", "node2", managed()))
	mustApply(t, d, ref, createOp(prefix+"b", "node3", managed()))
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: prefix + "b"})

	obs, err := d.Observe(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	foreign := hyperv.E2EForeign(obs, prefix)
	want := []string{"managed-elsewhere", prefix + "arb", prefix + "no-marker", "prod-db", "prod-web"}
	slices.Sort(want)
	slices.Sort(foreign)
	if !slices.Equal(foreign, want) {
		t.Errorf("E2EForeign = %v, want %v", foreign, want)
	}
	if err := hyperv.E2ECleanup(context.Background(), d, ref, prefix); err != nil {
		t.Fatal(err)
	}
	if got := names(t, d, ref); !slices.Equal(got, want) {
		t.Errorf("after cleanup the cluster holds %v, want exactly the VMs the run did not create %v", got, want)
	}
	for _, n := range []string{prefix + "arb", "prod-db"} {
		if v := vmNamed(t, d, ref, n); v.Power != drivers.PowerRunning {
			t.Errorf("%s was running before the cleanup and is %s after it", n, v.Power)
		}
	}
}

// TestE2ECheckShared (issue 13, item 1): the suite refuses to start on a cluster holding VMs
// it did not create, naming them (at most ten) and TLR_E2E_ALLOW_SHARED, unless that is "1".
func TestE2ECheckShared(t *testing.T) {
	const p = "tlr-e2e-0000-"
	own := drivers.VM{Name: p + "a", Annotations: managed()}
	many := []drivers.VM{own}
	for i := range 12 {
		many = append(many, drivers.VM{Name: fmt.Sprintf("prod-%02d", i)})
	}
	tests := []struct {
		name, allow string
		vms         []drivers.VM
		want        []string // in the error; nil: no error
	}{
		{name: "empty cluster", vms: nil},
		{name: "only the run's VMs", vms: []drivers.VM{own}},
		{name: "an unmanaged VM", vms: []drivers.VM{own, {Name: "prod-db"}}, want: []string{"cluster/hv", "1 VMs", "prod-db", "TLR_E2E_ALLOW_SHARED=1"}},
		{name: "infrastructure with the prefix", vms: []drivers.VM{{Name: p + "arb", Annotations: managed(), Infrastructure: true}}, want: []string{p + "arb"}},
		{name: "allowed", allow: "1", vms: []drivers.VM{own, {Name: "prod-db"}}},
		{name: "allowed only by 1", allow: "true", vms: []drivers.VM{{Name: "prod-db"}}, want: []string{"prod-db"}},
		{name: "names ten and counts the rest", vms: many, want: []string{"12 VMs", "prod-09", "and 2 more"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := hyperv.E2ECheckShared(&drivers.Observed{Cluster: "hv", VMs: tc.vms}, p, tc.allow)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("E2ECheckShared: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("E2ECheckShared = nil, want a refusal")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "prod-10") {
				t.Errorf("error %q names more than ten VMs", err)
			}
		})
	}
}

// TestE2ERestoreIPsecLeavesTheRulesItFound (issue 13, item 1): the suite records which nodes
// required live-migration IPsec before it ran and afterwards removes tlreconcile's rules
// (Remove-NetIPsecRule, learn.microsoft.com/powershell/module/netsecurity/remove-netipsecrule)
// only on the nodes that had none: a node whose administrator had them keeps them.
func TestE2ERestoreIPsecLeavesTheRulesItFound(t *testing.T) {
	ref := testRef()
	d, host := newDriver(t, ref, hypervfake.Options{})
	if _, err := d.Observe(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if err := host.Sim().SetIPsec(ref.Name, "node1", true); err != nil {
		t.Fatal(err)
	}
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	before := hyperv.E2EIPsecBefore(obs)
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Node: "node2"})
	if got := ipsecNodes(t, d, ref); got != "node1 node2 node3" {
		t.Fatalf("after the run's enable-migration-ipsec: IPsec on %q, want every node", got)
	}
	if err := d.E2ERestoreIPsec(context.Background(), ref, before); err != nil {
		t.Fatal(err)
	}
	if got := ipsecNodes(t, d, ref); got != "node1" {
		t.Errorf("after the restore: IPsec on %q, want only node1, which had it before the run", got)
	}
}

func ipsecNodes(t *testing.T, d drivers.Driver, ref drivers.ClusterRef) string {
	t.Helper()
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var on []string
	for _, n := range obs.Nodes {
		if n.MigrationIPsec {
			on = append(on, n.Name)
		}
	}
	return strings.Join(on, " ")
}

// TestE2EOwned (issue 13, item 1): ownership needs the prefix and the marker, and never covers infrastructure.
func TestE2EOwned(t *testing.T) {
	const p = "tlr-e2e-0000-"
	tests := []struct {
		name string
		vm   drivers.VM
		want bool
	}{
		{"prefix and marker", drivers.VM{Name: p + "a", Annotations: managed()}, true},
		{"marker without prefix", drivers.VM{Name: "prod", Annotations: managed()}, false},
		{"prefix without marker", drivers.VM{Name: p + "a"}, false},
		{"another tool's annotations", drivers.VM{Name: p + "a", Annotations: &drivers.Annotations{ManagedBy: "other"}}, false},
		{"infrastructure with forged marker", drivers.VM{Name: p + "arb", Annotations: managed(), Infrastructure: true}, false},
		{"empty prefix owns nothing", drivers.VM{Name: "x", Annotations: managed()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := p
			if tc.name == "empty prefix owns nothing" {
				prefix = ""
			}
			if got := hyperv.E2EOwned(tc.vm, prefix); got != tc.want {
				t.Errorf("E2EOwned = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStopVMEscalatesOnlyWithAllowForceStop (issue 13, item 4): Stop-VM -Force asks the guest to shut down and
// gives it five minutes; -TurnOff "is equivalent to removing power from the virtual machine"
// (learn.microsoft.com/powershell/module/hyper-v/stop-vm). A guest that does not shut down is
// turned off only with AllowForceStop (apply --allow-force-stop); otherwise the stop fails
// invalid-state with the VM's state and it keeps running.
func TestStopVMEscalatesOnlyWithAllowForceStop(t *testing.T) {
	ref := testRef()
	d, host := newDriver(t, ref, hypervfake.Options{})
	mustApply(t, d, ref, createOp("busy", "node1", managed()))
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStartVM, VM: "busy"})
	host.SetGuestHung("busy", true)
	_, err := d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: ref.Name, VM: "busy"})
	if !errors.Is(err, drivers.ErrInvalidState) || !strings.Contains(err.Error(), "--allow-force-stop") || !strings.Contains(err.Error(), "Running") {
		t.Fatalf("stop of a guest that does not shut down: %v; want invalid state naming the VM's state and --allow-force-stop", err)
	}
	if v := vmNamed(t, d, ref, "busy"); v.Power != drivers.PowerRunning {
		t.Fatalf("after a refused stop the VM is %s, want Running", v.Power)
	}
	res := mustApply(t, d, ref, drivers.Op{Kind: drivers.OpStopVM, VM: "busy", Params: &drivers.Params{AllowForceStop: true}})
	if !res.Changed || !strings.Contains(res.Message, "turned off") {
		t.Errorf("forced stop: %+v, want a change whose message says it was turned off", res)
	}
	if v := vmNamed(t, d, ref, "busy"); v.Power != drivers.PowerOff {
		t.Errorf("after a forced stop the VM is %s, want Off", v.Power)
	}
}

func vmNamed(t *testing.T, d drivers.Driver, ref drivers.ClusterRef, name string) drivers.VM {
	t.Helper()
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range obs.VMs {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("VM %s not observed", name)
	return drivers.VM{}
}

// TestObserveReportsABrokenVMAndTheRest (issue 13, item 5): a VM whose report throws
// (Get-VMFirmware failing for one VM, say) is that VM's ObserveError; the node and its other
// VMs are observed. Under $ErrorActionPreference = 'Stop' every cmdlet error is terminating
// (about_Preference_Variables), so observe.ps1 catches it per VM (about_Try_Catch_Finally)
// and answers the VM's name, VMId and error, as the fake does.
func TestObserveReportsABrokenVMAndTheRest(t *testing.T) {
	ref := testRef()
	d, host := newDriver(t, ref, hypervfake.Options{})
	mustApply(t, d, ref, createOp("ok-1", "node1", managed()))
	mustApply(t, d, ref, createOp("broken", "node1", managed()))
	host.BreakReport("broken", "Get-VMFirmware : The operation failed because the file was not found.")
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatalf("one broken VM failed the whole observation: %v", err)
	}
	byName := map[string]drivers.VM{}
	for _, v := range obs.VMs {
		byName[v.Name] = v
	}
	if v := byName["broken"]; !strings.Contains(v.ObserveError, "Get-VMFirmware") || v.Node != "node1" {
		t.Errorf("broken VM: %+v; want its ObserveError and node", v)
	}
	if v := byName["ok-1"]; v.ObserveError != "" || v.Processors != 2 || v.Annotations == nil {
		t.Errorf("healthy VM beside it: %+v; want it fully observed", v)
	}
}

// TestCreateRefusesAHostWithoutIsolation (issue 13, item 3): New-VM gained -GuestStateIsolationType with
// Windows Server 2025 (learn.microsoft.com/powershell/module/hyper-v/new-vm); an older host
// cannot make a trusted-launch VM, so create fails not-supported and makes nothing, while a
// Standard VM is still created.
func TestCreateRefusesAHostWithoutIsolation(t *testing.T) {
	ref := testRef()
	d, _ := newDriver(t, ref, hypervfake.Options{NoIsolation: true})
	_, err := d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpCreateVM, Cluster: ref.Name, VM: "tl", Params: createOp("tl", "node1", managed()).Params})
	if !errors.Is(err, drivers.ErrNotSupported) || !strings.Contains(err.Error(), "GuestStateIsolationType") {
		t.Fatalf("trusted-launch create on an old host: %v; want not supported naming GuestStateIsolationType", err)
	}
	if got := names(t, d, ref); len(got) != 0 {
		t.Errorf("a refused create left VMs %v", got)
	}
	std := createOp("std", "node1", managed())
	std.Params.SecurityType = drivers.SecurityStandard
	mustApply(t, d, ref, std)
}

// TestClusteredCreateNeedsCSV (issue 13, item 7): a clustered VM is a cluster role any node may
// own (Add-ClusterVirtualMachineRole), so its files must be on storage every node reaches: a
// Cluster Shared Volume, mounted on every node under C:\ClusterStorage (Windows Server
// "Use Cluster Shared Volumes in a failover cluster", learn.microsoft.com/windows-server/
// failover-clustering/failover-cluster-csvs); a local vmPath, or none (Get-VMHost
// VirtualMachinePath, the host's local default), is an invalid argument before anything is
// sent to a node.
func TestClusteredCreateNeedsCSV(t *testing.T) {
	for _, tc := range []struct {
		name, vmPath string
		ok           bool
	}{
		{"no vmPath", "", false},
		{"local disk", `D:\Hyper-V\VMs`, false},
		{"look-alike prefix", `C:\ClusterStorageX\Volume1`, false},
		{"CSV", `C:\ClusterStorage\Volume1\VMs`, true},
		{"CSV any case", `c:\clusterstorage\volume2\vms`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := testRef()
			ref.Options["vmPath"] = tc.vmPath
			d, host := newDriver(t, ref, hypervfake.Options{})
			before := host.Counts().PerScript[string(drivers.OpCreateVM)]
			_, err := d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpCreateVM, Cluster: ref.Name, VM: "c1", Params: createOp("c1", "node1", managed()).Params})
			sent := host.Counts().PerScript[string(drivers.OpCreateVM)] - before
			if tc.ok && err != nil || !tc.ok && (!errors.Is(err, drivers.ErrInvalidArgument) || !strings.Contains(err.Error(), "Cluster Shared Volume") || sent != 0) {
				t.Errorf("vmPath %q: err %v, %d create scripts sent", tc.vmPath, err, sent)
			}
		})
	}
}

// TestMigrationIPsecEveryNodeWithRollback (issue 13, item 9): enable-migration-ipsec builds an explicit ESP
// quick-mode crypto set (New-NetIPsecQuickModeCryptoSet) and the configured main-mode auth
// set (New-NetIPsecPhase1AuthSet -Proposal (New-NetIPsecAuthProposal -Machine -Cert
// -Authority ...)) on every node in one step; when one node fails, the nodes already changed
// are rolled back, so no two nodes are left unable to live-migrate between them.
func TestMigrationIPsecEveryNodeWithRollback(t *testing.T) {
	ref := testRef()
	ref.Options["migrationIPsec"] = map[string]any{"auth": "certificate", "certificateAuthority": "CN=Contoso Root CA"}
	d, host := newDriver(t, ref, hypervfake.Options{})
	host.FailIPsec("node3", true)
	_, err := d.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: ref.Name, Node: "node1"})
	if err == nil || !strings.Contains(err.Error(), "node/node3") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("rollout with a failing node: %v; want an error naming node3 and the rollback", err)
	}
	obs, _ := d.Observe(t.Context(), ref)
	for _, n := range obs.Nodes {
		if n.MigrationIPsec {
			t.Errorf("node %s kept IPsec after the rollback", n.Name)
		}
	}
	host.FailIPsec("node3", false)
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Node: "node2"})
	obs, _ = d.Observe(t.Context(), ref)
	for _, n := range obs.Nodes {
		if !n.MigrationIPsec || host.IPsecAuth(n.Name) != hyperv.AuthCertificate {
			t.Errorf("node %s: IPsec %v with auth %q; want every node covered with certificate auth", n.Name, n.MigrationIPsec, host.IPsecAuth(n.Name))
		}
	}
}

// TestMigrationTransportObserved (issue 13, item 9): Get-VMHost
// VirtualMachineMigrationPerformanceOption (TCPIP, Compression or SMB: Set-VMHost,
// learn.microsoft.com/powershell/module/hyper-v/set-vmhost) and, for SMB,
// Get-SmbServerConfiguration EncryptData (learn.microsoft.com/powershell/module/smbshare/
// get-smbserverconfiguration) reach the observation.
func TestMigrationTransportObserved(t *testing.T) {
	ref := testRef()
	d, host := newDriver(t, ref, hypervfake.Options{})
	host.SetMigrationTransport("node1", "SMB", false)
	host.SetMigrationTransport("node2", "SMB", true)
	obs, err := d.Observe(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range obs.Nodes {
		got[n.Name] = n.MigrationTransport + "/" + map[bool]string{true: "enc", false: "plain"}[n.MigrationSMBEncrypted]
	}
	want := map[string]string{"node1": "SMB/plain", "node2": "SMB/enc", "node3": "TCPIP/plain"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("node %s: %s, want %s", k, got[k], v)
		}
	}
}

// TestOnlyIsolatedVMsNeedTheAgent (issue 13, item 10): a standard VM's vTPM is protected by a
// local key protector (Set-VMKeyProtector -NewLocalKeyProtector, learn.microsoft.com/
// powershell/module/hyper-v/set-vmkeyprotector), which ties it to the host guardian, not to
// IGVmAgent; only a VM whose GuestStateIsolationType is TrustedLaunch (New-VM
// -GuestStateIsolationType) needs the agent, so a standard VM's move sends no node-status check.
func TestOnlyIsolatedVMsNeedTheAgent(t *testing.T) {
	ref := testRef()
	d, host := newDriver(t, ref, hypervfake.Options{})
	std := createOp("std", "node1", managed())
	std.Params.SecurityType = drivers.SecurityStandard
	mustApply(t, d, ref, std)
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnsureKeyProtector, VM: "std"})
	mustApply(t, d, ref, drivers.Op{Kind: drivers.OpEnableTPM, VM: "std"})
	mustApply(t, d, ref, createOp("tl", "node1", managed()))
	for _, tc := range []struct {
		vm     string
		checks int64
	}{{"std", 0}, {"tl", 1}} {
		before := host.Counts().PerScript[hyperv.ScriptNodeStatus]
		mustApply(t, d, ref, drivers.Op{Kind: drivers.OpMoveVM, VM: tc.vm, Params: &drivers.Params{TargetNode: "node2"}})
		if got := host.Counts().PerScript[hyperv.ScriptNodeStatus] - before; got != tc.checks {
			t.Errorf("move of %s: %d IGVmAgent checks, want %d", tc.vm, got, tc.checks)
		}
	}
}

// TestE2EDriverNamesAndMarksWhatItCreates (issue 13, item 1): through the e2e wrapper every
// VM the contract suite creates gets the run's prefix and the managed marker (in its Notes,
// Set-VM -Notes: learn.microsoft.com/powershell/module/hyper-v/set-vm), also when the suite
// clears its annotations, so E2ECleanup finds exactly it; the suite sees only the run's VMs,
// under its own names, and errors still wrap the sentinels.
func TestE2EDriverNamesAndMarksWhatItCreates(t *testing.T) {
	ref := testRef()
	d, host := newDriver(t, ref, hypervfake.Options{})
	if _, err := d.Observe(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if err := host.Sim().CreateUnmanaged(t.Context(), ref.Name, "prod-db", hvmodel.UnmanagedVM{}); err != nil {
		t.Fatal(err)
	}
	prefix := hyperv.E2EPrefix()
	w := hyperv.E2EDriver{Driver: d, Prefix: prefix}
	mustApply(t, w, ref, createOp("x", "node1", nil))
	mustApply(t, w, ref, drivers.Op{Kind: drivers.OpSetAnnotations, VM: "x", Params: &drivers.Params{}})
	if v := vmNamed(t, d, ref, prefix+"x"); !hyperv.E2EOwned(v, prefix) {
		t.Errorf("the VM the wrapper created: %+v; want the run's prefix and the managed marker", v)
	}
	if got := names(t, w, ref); !slices.Equal(got, []string{"x"}) {
		t.Errorf("through the wrapper the suite sees %v, want only [x]", got)
	}
	if v := vmNamed(t, w, ref, "x"); v.Annotations != nil {
		t.Errorf("through the wrapper: annotations %+v, want none (the marker is the wrapper's)", v.Annotations)
	}
	_, err := w.Apply(t.Context(), ref, drivers.Op{Kind: drivers.OpStartVM, Cluster: ref.Name, VM: "prod-db"})
	if !errors.Is(err, drivers.ErrNotFound) || strings.Contains(err.Error(), prefix) {
		t.Errorf("an op on a VM the run did not create: %v; want not found, named as the suite named it", err)
	}
	if v := vmNamed(t, d, ref, "prod-db"); v.Power != drivers.PowerOff {
		t.Errorf("prod-db is %s, want untouched (Off)", v.Power)
	}
}
