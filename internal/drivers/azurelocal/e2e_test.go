//go:build azurelocal_e2e

package azurelocal_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
)

// TestE2EAzureLocal walks a trusted-launch Azure Local VM's life on a real
// Azure Local through the azurelocal driver:
//
//	go test -tags azurelocal_e2e -run E2E -v -timeout 2h ./internal/drivers/azurelocal/
//
// with Azure's credential chain (AZURE_CLIENT_ID/AZURE_TENANT_ID/
// AZURE_CLIENT_SECRET, workload or managed identity, or `az login`) and
//
//	TLR_AZL_E2E_SUBSCRIPTION     subscription ID
//	TLR_AZL_E2E_RESOURCE_GROUP   the resource group the run's VMs go to (best one of their own)
//	TLR_AZL_E2E_CUSTOM_LOCATION  the cluster's custom location, as a resource ID
//	TLR_AZL_E2E_LOCATION         its Azure region, e.g. westeurope
//	TLR_AZL_E2E_CLOUD            optional: AzurePublic (default) | AzureGovernment | AzureChina
//	TLR_AZL_E2E_LOGICAL_NETWORK  an existing logical network for the VMs' NICs
//	TLR_AZL_E2E_IMAGE            publisher:offer:sku[:version] of a marketplace gallery image already
//	                             in the resource group (the suite never downloads one)
//	TLR_AZL_E2E_NODES            the cluster's nodes, comma-separated (two or more to test a move)
//	TLR_AZL_E2E_NODE_ACCESS      optional: options.nodeAccess as JSON, e.g.
//	                             {"transport":"ssh","user":"svc-tlr","identityFile":"~/.ssh/id_ed25519"}
//	                             (default: local PowerShell, for a run on a node)
//	TLR_AZL_E2E_RESOURCE_BRIDGE  the Arc resource bridge VM's name (never touched)
//	TLR_AZL_E2E_ADMIN_USERNAME   optional: the guests' admin user (default tlradmin)
//	TLR_AZL_E2E_ADMIN_PASSWORD   optional: the guests' admin password; the driver reads it by
//	                             reference for the create request only, the suite never reads it
//	TLR_AZL_E2E_GUEST_AGENT      optional: 1 when the image carries tlreconcile's guest agent
//	                             (then the vTPM identity is checked across the move)
//	TLR_AZL_E2E_CLUSTER          optional: the cluster's name in tlreconcile (default e2e)
//	TLR_AZL_E2E_ALLOW_SHARED     optional: 1 runs although the target holds VMs this run did not
//	                             create (they are never touched)
//	TLR_AZL_E2E_SWEEP            optional: the prefix of an earlier run whose process died, for
//	                             TestE2ESweep to delete what it left
//
// Every VM of a run is named with a unique prefix (tlr-e2e-<8 hex>-, logged
// at the start) and carries tlreconcile's managed tag; the run sees, changes
// and deletes only VMs with both, never the resource bridge, never a node
// setting (agents, live-migration encryption). Its cleanup runs even when a
// step fails, deletes its VMs (also a create stopped half-way) and their
// network interfaces, and checks that nothing of the run is left.
func TestE2EAzureLocal(t *testing.T) {
	cfg, d := e2eSetup(t)
	w, err := azurelocal.NewE2EDriver(d, azurelocal.E2EPrefix())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run prefix %s: the run's VMs are named %s*", w.Prefix(), w.Prefix())
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		if err := w.Cleanup(ctx, cfg.Cluster); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := w.Preflight(t.Context(), cfg.Cluster, cfg.Target); err != nil {
		t.Fatal(err)
	}
	r := &run{w: w, ref: cfg.Cluster, cfg: cfg}
	for _, step := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"CreateTrustedLaunch", r.create},
		{"CreateAgainChangesNothing", r.createAgain},
		{"HardwareThroughARM", r.hardware},
		{"MoveKeepsTheVTPM", r.move},
		{"AnnotationsAreTags", r.annotations},
		{"RestrictFileAccess", r.fileAccess},
		{"NoTPMOrNodeOps", r.refusals},
		{"Delete", r.delete},
	} {
		if !t.Run(step.name, step.fn) {
			return // the later steps need this one; cleanup still runs
		}
	}
}

// TestE2ESweep deletes what the run named by TLR_AZL_E2E_SWEEP left behind
// (its process died before its cleanup), by the same rules.
func TestE2ESweep(t *testing.T) {
	cfg, d := e2eSetup(t)
	if cfg.Sweep == "" {
		t.Skip("TLR_AZL_E2E_SWEEP is not set")
	}
	if err := azurelocal.E2ECleanup(t.Context(), d, cfg.Cluster, cfg.Sweep); err != nil {
		t.Fatal(err)
	}
}

func e2eSetup(t *testing.T) (azurelocal.E2EConfig, *azurelocal.Driver) {
	t.Helper()
	cfg, err := azurelocal.E2EConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	dd, err := azurelocal.Factory(drivers.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	d := dd.(*azurelocal.Driver)
	t.Cleanup(func() { _ = d.Close() })
	return cfg, d
}

// run is one run's steps on its one VM, "tl".
type run struct {
	w   *azurelocal.E2EDriver
	ref drivers.ClusterRef
	cfg azurelocal.E2EConfig

	first drivers.VM // as observed after the create
}

const vmName = "tl"

func (r *run) apply(t *testing.T, op drivers.Op) drivers.Result {
	t.Helper()
	op.Cluster, op.VM = r.ref.Name, vmName
	res, err := r.w.Apply(t.Context(), r.ref, op)
	if err != nil {
		t.Fatalf("%s: %v", op.Kind, err)
	}
	return res
}

// vm observes the run's VM; ok is false when it is absent.
func (r *run) vm(t *testing.T) (drivers.VM, bool) {
	t.Helper()
	obs, err := r.w.Observe(t.Context(), r.ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range obs.VMs {
		if v.Name == vmName {
			return v, true
		}
	}
	return drivers.VM{}, false
}

func (r *run) mustVM(t *testing.T) drivers.VM {
	t.Helper()
	v, ok := r.vm(t)
	if !ok {
		t.Fatalf("vm %s is not observed", vmName)
	}
	return v
}

func (r *run) createOp() drivers.Op {
	osp := r.cfg.OSProfile
	return drivers.Op{Kind: drivers.OpCreateVM, Params: &drivers.Params{
		Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, SecureBoot: drivers.Bool(true), VTPM: drivers.Bool(true),
		Image: &r.cfg.Target.Image, Processors: 2, MemoryMB: 4096,
		Network:     &drivers.Network{LogicalNetwork: r.cfg.Target.LogicalNetwork},
		OSProfile:   &osp,
		Annotations: &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "e2e1"},
	}}
}

func (r *run) create(t *testing.T) {
	if res := r.apply(t, r.createOp()); !res.Changed {
		t.Fatalf("create-vm changed nothing: %s", res.Message)
	}
	v := r.mustVM(t)
	switch {
	case v.SecurityType != drivers.SecurityTrustedLaunch || !v.TPMEnabled || !v.SecureBoot:
		t.Errorf("not a trusted-launch VM: security %s, vTPM %v, Secure Boot %v", v.SecurityType, v.TPMEnabled, v.SecureBoot)
	case v.Power != drivers.PowerRunning:
		t.Errorf("power %s after create, want Running", v.Power)
	case v.ID == "" || !slices.Contains(r.ref.Nodes, v.Node):
		t.Errorf("VM ID %q on node %q: want an ID and one of %v", v.ID, v.Node, r.ref.Nodes)
	case v.FileAccess != drivers.FileAccessHostAdminsOnly:
		t.Errorf("guest state file access %s, want host administrators only", v.FileAccess)
	case v.Annotations == nil || v.Annotations.SpecHash != "e2e1":
		t.Errorf("annotations %+v, want the spec hash the create wrote", v.Annotations)
	case r.cfg.Cluster.Options["guestAgent"] == true && len(v.VTPMIdentity) != 64:
		t.Errorf("vTPM identity %q read through the guest agent, want a sha256", v.VTPMIdentity)
	}
	r.first = v
}

func (r *run) createAgain(t *testing.T) {
	if res := r.apply(t, r.createOp()); res.Changed {
		t.Errorf("a second create-vm changed something: %s", res.Message)
	}
}

func (r *run) hardware(t *testing.T) {
	r.apply(t, drivers.Op{Kind: drivers.OpStopVM})
	r.apply(t, drivers.Op{Kind: drivers.OpSetHardware, Params: &drivers.Params{Processors: 4, MemoryMB: 8192}})
	r.apply(t, drivers.Op{Kind: drivers.OpStartVM})
	if v := r.mustVM(t); v.Processors != 4 || v.MemoryMB != 8192 || v.Power != drivers.PowerRunning {
		t.Errorf("after set-hardware: %d processors, %d MB, %s; want 4, 8192, Running", v.Processors, v.MemoryMB, v.Power)
	}
}

func (r *run) move(t *testing.T) {
	if len(r.ref.Nodes) < 2 {
		t.Skip("one node: no move")
	}
	from := r.mustVM(t).Node
	to := r.ref.Nodes[0]
	if to == from {
		to = r.ref.Nodes[1]
	}
	r.apply(t, drivers.Op{Kind: drivers.OpMoveVM, Params: &drivers.Params{TargetNode: to}})
	v := r.mustVM(t)
	if v.Node != to {
		t.Errorf("after move-vm to %s the VM is on %s", to, v.Node)
	}
	if r.cfg.Cluster.Options["guestAgent"] == true && v.VTPMIdentity != r.first.VTPMIdentity {
		t.Errorf("the vTPM identity changed across a live migration: %s, was %s", v.VTPMIdentity, r.first.VTPMIdentity)
	}
}

func (r *run) annotations(t *testing.T) {
	a := drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "e2e2", Protect: true, Node: r.ref.Nodes[0]}
	r.apply(t, drivers.Op{Kind: drivers.OpSetAnnotations, Params: &drivers.Params{Annotations: &a}})
	if v := r.mustVM(t); v.Annotations == nil || *v.Annotations != a {
		t.Errorf("annotations %+v, want %+v", v.Annotations, a)
	}
	if res := r.apply(t, drivers.Op{Kind: drivers.OpSetAnnotations, Params: &drivers.Params{Annotations: &a}}); res.Changed {
		t.Errorf("writing the same tags again changed something: %s", res.Message)
	}
}

func (r *run) fileAccess(t *testing.T) {
	r.apply(t, drivers.Op{Kind: drivers.OpRestrictFileAccess})
	if v := r.mustVM(t); v.FileAccess != drivers.FileAccessHostAdminsOnly {
		t.Errorf("file access %s after restrict-file-access", v.FileAccess)
	}
}

func (r *run) refusals(t *testing.T) {
	for _, c := range []struct {
		op   drivers.Op
		want error
	}{
		{drivers.Op{Kind: drivers.OpEnableTPM, Cluster: r.ref.Name, VM: vmName}, drivers.ErrNotSupported},
		{drivers.Op{Kind: drivers.OpEnsureKeyProtector, Cluster: r.ref.Name, VM: vmName}, drivers.ErrNotSupported},
		{drivers.Op{Kind: drivers.OpEnableMigrationIPsec, Cluster: r.ref.Name, Node: r.ref.Nodes[0]}, drivers.ErrPrecondition},
	} {
		if _, err := r.w.Apply(t.Context(), r.ref, c.op); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.op.Kind, err, c.want)
		}
	}
}

func (r *run) delete(t *testing.T) {
	if res := r.apply(t, drivers.Op{Kind: drivers.OpDeleteVM}); !res.Changed {
		t.Errorf("delete-vm changed nothing: %s", res.Message)
	}
	if _, ok := r.vm(t); ok {
		t.Error("the VM is observed after delete-vm")
	}
	if res := r.apply(t, drivers.Op{Kind: drivers.OpDeleteVM}); res.Changed {
		t.Errorf("a second delete-vm changed something: %s", res.Message)
	}
}
