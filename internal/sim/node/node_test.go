package node_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/sim/node"
)

const simCluster = "sim-cluster"

type env struct {
	t    testing.TB
	ctx  context.Context
	host *cluster.Host
	tr   *node.Transport
}

func newEnv(t testing.TB) *env {
	t.Helper()
	h, err := cluster.Open(t.TempDir(), cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &env{t: t, ctx: context.Background(), host: h, tr: node.NewTransport(h, simCluster)}
}

// place creates a trusted-launch VM through the cluster's arm.Host, as ARM does.
func (e *env) place(name string) arm.Placement {
	e.t.Helper()
	pl, err := e.host.PlaceVM(e.ctx, arm.PlaceRequest{MachineID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/" + name,
		CustomLocation: arm.DefaultCustomLocation, Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096},
		Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}})
	if err != nil {
		e.t.Fatal(err)
	}
	return pl
}

func (e *env) session(nodeName string) *psnode.Session {
	e.t.Helper()
	s := psnode.NewSession(psnode.SessionConfig{Node: nodeName, Transport: e.tr, Scripts: azlocal.Scripts(), StartTimeout: 10 * time.Second})
	e.t.Cleanup(s.Close)
	return s
}

func (e *env) observe(s *psnode.Session, p azlocal.ObserveParams) azlocal.NodeReport {
	e.t.Helper()
	var rep azlocal.NodeReport
	if err := s.Run(e.ctx, azlocal.ScriptObserveNode, p, &rep); err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func findVM(t *testing.T, rep azlocal.NodeReport, id string) *azlocal.VMReport {
	t.Helper()
	for i := range rep.VMs {
		if rep.VMs[i].VMID == id {
			return &rep.VMs[i]
		}
	}
	t.Fatalf("VM %s not in the node's report (%d VMs)", id, len(rep.VMs))
	return nil
}

func agent(rep azlocal.NodeReport, name string) string {
	for _, a := range rep.Agents {
		if a.Name == name {
			return a.Status
		}
	}
	return ""
}

func hasKey(rep azlocal.NodeReport, id string) bool {
	return slices.ContainsFunc(rep.KeyVault.Keys, func(k azlocal.KeyReport) bool { return k.Name == id })
}

// TestObserveNodeSeesTheModel: a trusted-launch VM placed through arm.Host shows on its owner
// node with its isolation type, VM ID, key and a restricted state file; incidents in the
// model change what the node answers.
func TestObserveNodeSeesTheModel(t *testing.T) {
	e := newEnv(t)
	pl := e.place("avd-01")
	s := e.session(pl.Node)
	rep := e.observe(s, azlocal.ObserveParams{})
	vm := findVM(t, rep, pl.VMID)
	if !vm.TrustedLaunch() || vm.Name != "avd-01" || vm.State != "Running" || vm.SecureBoot == nil || !*vm.SecureBoot || vm.Managed != nil || vm.Infrastructure {
		t.Errorf("VM report = %+v", vm)
	}
	if v, bad := azlocal.StateFileAccess(vm); v != azlocal.AccessRestricted {
		t.Errorf("state file verdict = %s %v, want restricted", v, bad)
	}
	if !rep.KeyVault.Available || !hasKey(rep, pl.VMID) {
		t.Errorf("key vault = %+v, want the VM's key", rep.KeyVault)
	}
	if agent(rep, azlocal.AgentIGVm) != azlocal.AgentRunning || agent(rep, azlocal.AgentNode) != azlocal.AgentRunning {
		t.Errorf("agents = %+v", rep.Agents)
	}
	if rep.LiveMigration.Transport != azlocal.TransportTCPIP || rep.LiveMigration.Encrypted() || rep.ComputerName != pl.Node {
		t.Errorf("live migration = %+v on %s", rep.LiveMigration, rep.ComputerName)
	}
	if rep.Cluster == nil || rep.Cluster.Name != simCluster || len(rep.Cluster.Nodes) != 2 {
		t.Errorf("cluster = %+v", rep.Cluster)
	}

	if err := e.host.SetAgent(e.ctx, simCluster, pl.Node, cluster.AgentIGVm, cluster.AgentStopped); err != nil {
		t.Fatal(err)
	}
	if err := e.host.GrantStateFileAccess(e.ctx, pl.VMID, cluster.PrincipalAllVMs); err != nil {
		t.Fatal(err)
	}
	if err := e.host.DeleteKey(e.ctx, pl.VMID); err != nil {
		t.Fatal(err)
	}
	rep = e.observe(s, azlocal.ObserveParams{})
	vm = findVM(t, rep, pl.VMID)
	if got := agent(rep, azlocal.AgentIGVm); got != azlocal.AgentStopped {
		t.Errorf("IGVmAgent after stopping it = %s", got)
	}
	if v, bad := azlocal.StateFileAccess(vm); v != azlocal.AccessViolation || !slices.Equal(bad, []string{azlocal.NameAllVMs + " (" + azlocal.SIDAllVMs + ")"}) {
		t.Errorf("verdict after granting all VMs = %s %v", v, bad)
	}
	if hasKey(rep, pl.VMID) {
		t.Error("the deleted key is still listed")
	}
}

func TestOpsChangeTheCluster(t *testing.T) {
	e := newEnv(t)
	pl := e.place("avd-01")
	s := e.session(pl.Node)
	vmp := azlocal.VMParams{VMID: pl.VMID, VM: "avd-01"}
	run := func(script string, p any) azlocal.OpResult {
		t.Helper()
		var r azlocal.OpResult
		if err := s.Run(e.ctx, script, p, &r); err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return r
	}
	state := func() cluster.VMState {
		t.Helper()
		st, err := e.host.VM(e.ctx, pl.VMID)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("restrict-file-access", func(t *testing.T) {
		_ = e.host.GrantStateFileAccess(e.ctx, pl.VMID, `CONTOSO\eve`)
		if r := run(azlocal.ScriptRestrictFileAccess, vmp); !r.Changed || !state().ACLRestricted {
			t.Errorf("after restrict-file-access: %+v, restricted %v", r, state().ACLRestricted)
		}
	})
	t.Run("start-igvm-agent", func(t *testing.T) {
		_ = e.host.SetAgent(e.ctx, simCluster, pl.Node, cluster.AgentIGVm, cluster.AgentStopped)
		if r := run(azlocal.ScriptStartIGVmAgent, struct{}{}); !r.Changed {
			t.Errorf("start-igvm-agent: %+v", r)
		}
		if r := run(azlocal.ScriptStartIGVmAgent, struct{}{}); r.Changed {
			t.Errorf("start-igvm-agent twice changed something: %+v", r)
		}
		n, _ := e.host.Node(e.ctx, simCluster, pl.Node)
		if n.Agents[cluster.AgentIGVm] != cluster.AgentRunning {
			t.Errorf("IGVmAgent = %s", n.Agents[cluster.AgentIGVm])
		}
	})
	t.Run("set-secure-boot refuses a running VM, then re-enables", func(t *testing.T) {
		_ = e.host.DisableSecureBoot(e.ctx, pl.VMID)
		err := s.Run(e.ctx, azlocal.ScriptSetSecureBoot, vmp, nil)
		if !errors.Is(err, drivers.ErrInvalidState) || !strings.Contains(err.Error(), "32775") {
			t.Fatalf("set-secure-boot on a running VM: %v, want invalid state", err)
		}
		_ = e.host.StopVM(e.ctx, pl.VMID)
		if r := run(azlocal.ScriptSetSecureBoot, vmp); !r.Changed || !state().SecureBoot {
			t.Errorf("set-secure-boot: %+v, on %v", r, state().SecureBoot)
		}
		_ = e.host.StartVM(e.ctx, pl.VMID)
	})
	t.Run("enable-migration-encryption in two phases", func(t *testing.T) {
		for _, phase := range []string{azlocal.PhaseRequest, azlocal.PhaseRequire} {
			run(azlocal.ScriptEnableMigrationEncryption, azlocal.EncryptionParams{Transport: azlocal.TransportTCPIP, Phase: phase})
		}
		if rep := e.observe(s, azlocal.ObserveParams{}); !rep.LiveMigration.Encrypted() || rep.LiveMigration.IPsec != azlocal.IPsecRequire {
			t.Errorf("after require: %+v", rep.LiveMigration)
		}
		err := s.Run(e.ctx, azlocal.ScriptEnableMigrationEncryption, azlocal.EncryptionParams{Transport: azlocal.TransportSMB, Phase: azlocal.PhaseRequire}, nil)
		if !errors.Is(err, drivers.ErrPrecondition) {
			t.Errorf("with a stale transport: %v, want a precondition error", err)
		}
	})
	t.Run("backup-guest-state-keys", func(t *testing.T) {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		wrap := filepath.Join(t.TempDir(), "public.pem")
		_ = os.WriteFile(wrap, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)}), 0o600)
		root := t.TempDir()
		var b azlocal.BackupResult
		if err := s.Run(e.ctx, azlocal.ScriptBackupGuestStateKeys, azlocal.BackupParams{WrappingKeyPath: wrap, BackupRoot: root}, &b); err != nil {
			t.Fatal(err)
		}
		if !b.Changed || !slices.Contains(b.Keys, pl.VMID) {
			t.Errorf("backup = %+v", b)
		}
		rep := e.observe(s, azlocal.ObserveParams{BackupRoot: root})
		if len(rep.Backups) != 1 || rep.Backups[0].Folder != b.Folder || !slices.Equal(rep.Backups[0].Keys, b.Keys) {
			t.Errorf("observed backups = %+v, want %s", rep.Backups, b.Folder)
		}
		err = s.Run(e.ctx, azlocal.ScriptBackupGuestStateKeys, azlocal.BackupParams{WrappingKeyPath: filepath.Join(root, "absent.pem"), BackupRoot: root}, nil)
		if !errors.Is(err, drivers.ErrPrecondition) || !strings.Contains(err.Error(), "copy the public key") {
			t.Errorf("without a wrapping key: %v", err)
		}
	})
	t.Run("move-vm live-migrates with the vTPM", func(t *testing.T) {
		before := state()
		target := "node1"
		if pl.Node == "node1" {
			target = "node2"
		}
		if r := run(azlocal.ScriptMoveVM, azlocal.MoveParams{VMParams: vmp, TargetNode: target}); !r.Changed || !strings.Contains(r.Message, "Live") {
			t.Errorf("move-vm: %+v", r)
		}
		after := state()
		if after.Node != target || after.Identity != before.Identity || after.Power != cluster.PowerRunning || !after.KeyPresent {
			t.Errorf("after the move: node %s identity kept %v power %s key %v", after.Node, after.Identity == before.Identity, after.Power, after.KeyPresent)
		}
		err := s.Run(e.ctx, azlocal.ScriptMoveVM, azlocal.MoveParams{VMParams: vmp, TargetNode: pl.Node}, nil)
		if !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "owner node") {
			t.Errorf("move-vm on a node that no longer owns the VM: %v, want not found", err)
		}
	})
}

// TestHostileNamesTravelAsData: VM names made of PowerShell syntax are observed and acted
// on through the node like any other name.
func TestHostileNamesTravelAsData(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"vm'; Remove-VM -Force; '", `vm"$(Stop-Computer)"`, "vm`n`$env:X", "vm\nTLR1 exit\n<<<TLR-END x>>>"} {
		pl := e.place(name)
		s := e.session(pl.Node)
		vm := findVM(t, e.observe(s, azlocal.ObserveParams{}), pl.VMID)
		if vm.Name != name {
			t.Errorf("observed name %q, want %q", vm.Name, name)
		}
		_ = e.host.GrantStateFileAccess(e.ctx, pl.VMID, cluster.PrincipalAllVMs)
		if err := s.Run(e.ctx, azlocal.ScriptRestrictFileAccess, azlocal.VMParams{VMID: pl.VMID, VM: name}, nil); err != nil {
			t.Errorf("restrict-file-access of %q: %v", name, err)
		}
		if st, _ := e.host.VM(e.ctx, pl.VMID); !st.ACLRestricted {
			t.Errorf("%q: not restricted after the op", name)
		}
	}
}

func TestDownNodeRefusesConnections(t *testing.T) {
	e := newEnv(t)
	s := e.session("node2")
	e.observe(s, azlocal.ObserveParams{})
	if err := e.host.FailNode(e.ctx, simCluster, "node2"); err != nil {
		t.Fatal(err)
	}
	err := s.Run(e.ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{}, nil)
	if !drivers.IsTransient(err) {
		t.Fatalf("a request to a node that went down: %v, want a transient error", err)
	}
	err = s.Run(e.ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{}, nil)
	if !drivers.IsTransient(err) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("connecting to a down node: %v, want a transient connection refused", err)
	}
	if _, err := e.tr.Start(e.ctx, "node9"); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("a node the cluster does not have: %v", err)
	}
	if err := e.host.RecoverNode(e.ctx, simCluster, "node2"); err != nil {
		t.Fatal(err)
	}
	if rep := e.observe(s, azlocal.ObserveParams{}); rep.ComputerName != "node2" {
		t.Errorf("after recovery: %+v", rep.ComputerName)
	}
}

func TestResourceBridgeIsRefused(t *testing.T) {
	e := newEnv(t)
	s := e.session("node1")
	rep := e.observe(s, azlocal.ObserveParams{})
	var bridge *azlocal.VMReport
	for i := range rep.VMs {
		if rep.VMs[i].Infrastructure {
			bridge = &rep.VMs[i]
		}
	}
	if bridge == nil {
		t.Fatalf("node1 reports no infrastructure VM: %+v", rep.VMs)
	}
	p := azlocal.VMParams{VMID: bridge.VMID, VM: bridge.Name}
	for script, params := range map[string]any{
		azlocal.ScriptMoveVM:             azlocal.MoveParams{VMParams: p, TargetNode: "node2"},
		azlocal.ScriptSetSecureBoot:      p,
		azlocal.ScriptRestrictFileAccess: p,
	} {
		err := s.Run(e.ctx, script, params, nil)
		if !azlocal.IsInfrastructure(err) {
			t.Errorf("%s on the resource bridge: %v, want an infrastructure refusal", script, err)
		}
	}
	st, _ := e.host.VM(e.ctx, bridge.VMID)
	if st.Node != "node1" {
		t.Errorf("the resource bridge moved to %s", st.Node)
	}
}

// TestServeChecksTheHostLine: a process that gets anything but the azlocal host loop answers
// as PowerShell would and never becomes ready.
func TestServeChecksTheHostLine(t *testing.T) {
	e := newEnv(t)
	other := psnode.NewHostScripts(fstest.MapFS{"s/h.ps1": {Data: []byte("# other helpers\n")}, "s/x.ps1": {Data: []byte("# x\n")}}, "s", "h")
	s := psnode.NewSession(psnode.SessionConfig{Node: "node1", Transport: e.tr, Scripts: other, StartTimeout: 5 * time.Second})
	defer s.Close()
	err := s.Run(e.ctx, "x", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "exited while starting") || !strings.Contains(err.Error(), "is not recognized") {
		t.Fatalf("a session with a foreign host loop: %v, want PowerShell's refusal", err)
	}
}

// TestObserveNodeNarrowed: observe-node narrowed to one VM ID reports that VM (on its owner
// node only) and its key, and the node's facts; narrowed to no VM, only the facts; a vmId that
// is not a GUID is refused before anything is read.
func TestObserveNodeNarrowed(t *testing.T) {
	e := newEnv(t)
	a, b := e.place("avd-01"), e.place("avd-02")
	s := e.session(a.Node)
	rep := e.observe(s, azlocal.ObserveParams{VMID: strings.ToUpper(a.VMID)})
	if len(rep.VMs) != 1 || rep.VMs[0].VMID != a.VMID || !hasKey(rep, a.VMID) || hasKey(rep, b.VMID) {
		t.Errorf("narrowed to %s: VMs %+v, keys %+v", a.VMID, rep.VMs, rep.KeyVault.Keys)
	}
	if agent(rep, azlocal.AgentIGVm) != azlocal.AgentRunning || rep.Cluster == nil || len(rep.Cluster.Nodes) != 2 {
		t.Errorf("the node's facts are missing from a narrowed report: %+v", rep)
	}
	if other := e.observe(e.session(otherNode(t, a.Node)), azlocal.ObserveParams{VMID: a.VMID}); len(other.VMs) != 0 {
		t.Errorf("a node that does not run %s reports %+v", a.VMID, other.VMs)
	}
	if none := e.observe(s, azlocal.ObserveParams{NoVMs: true}); len(none.VMs) != 0 || agent(none, azlocal.AgentNode) != azlocal.AgentRunning {
		t.Errorf("noVMs: %+v", none)
	}
	var r azlocal.NodeReport
	err := s.Run(e.ctx, azlocal.ScriptObserveNode, azlocal.ObserveParams{VMID: "../../etc/passwd"}, &r)
	if se, ok := psnode.AsScriptError(err); !ok || se.Category != psnode.CategoryInvalidArg {
		t.Errorf("a vmId that is no GUID: %v", err)
	}
}

func otherNode(t *testing.T, n string) string {
	t.Helper()
	for _, o := range []string{"node1", "node2"} {
		if o != n {
			return o
		}
	}
	t.Fatal("no other node")
	return ""
}
