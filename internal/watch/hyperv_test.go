package watch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// TestPipelineDrivesHyperV: the watch daemon's reconcile (load, one session,
// observe, plan, apply on the drivers that observed) creates a VM and runs
// the node steps on a hyperv cluster served by the fake host.
func TestPipelineDrivesHyperV(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "desired.yaml"), []byte(hypervfake.DesiredYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := drivers.ClusterRef{Name: "hv", Driver: hyperv.Name, Nodes: []string{"node1", "node2", "node3"}}
	host, err := hypervfake.New(t.TempDir(), ref, hypervfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Sim().SetAgent("hv", "node3", drivers.AgentStopped); err != nil {
		t.Fatal(err)
	}
	p := &watch.Pipeline{Registry: hypervfake.Registry(host), Config: drivers.Config{StateDir: t.TempDir()}, Mode: watch.ModeCorrect}
	in := p.Load(context.Background(), dir)
	if in.Err != nil || in.Desired == nil {
		t.Fatalf("load: %v %v", in.Err, in.Diagnostics)
	}
	res, err := p.Reconcile(context.Background(), in.Desired, watch.TriggerStartup)
	if err != nil {
		t.Fatalf("reconcile: %v (steps %+v)", err, res.Steps)
	}
	ops := map[drivers.OpKind]int{}
	for _, s := range res.Steps {
		if s.Result != "succeeded" {
			t.Errorf("step %s: %s", s.Op, s.Result)
		}
		ops[s.Op]++
	}
	if ops[drivers.OpStartIgvmAgent] != 1 || ops[drivers.OpEnableMigrationIPsec] != 3 || ops[drivers.OpCreateVM] != 1 {
		t.Errorf("ops %v, want one agent start, three IPsec enables and one create", ops)
	}
	obs, err := host.Sim().Observe(context.Background(), drivers.ClusterRef{Name: "hv", Driver: "sim", Nodes: ref.Nodes})
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.VMs) != 1 || obs.VMs[0].Power != drivers.PowerRunning || obs.VMs[0].Annotations == nil {
		t.Fatalf("VMs %+v, want tl-01 running and managed", obs.VMs)
	}
	again, err := p.Reconcile(context.Background(), in.Desired, watch.TriggerStartup)
	if err != nil || len(again.Changes) != 0 {
		t.Errorf("second reconcile: %v, changes %+v; want none", err, again.Changes)
	}
}
