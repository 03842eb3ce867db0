package watch_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// TestPipelineJournaledIdentity: in mode correct the pipeline resumes an
// interrupted apply's journal the way `tlreconcile apply` does. A planned
// identity change whose journal entry read the new identity accepts that
// identity only: vm/a's vTPM, lost in a failover, is reported as
// vtpm-state-lost and its last verified identity kept unless the journal
// names the identity it has now, or knows only that the step was pending.
func TestPipelineJournaledIdentity(t *testing.T) {
	const other = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
	tests := []struct {
		name     string
		entry    func(cur string) apply.Entry
		wantLost bool
	}{
		{"journaled identity is the one the VM has", func(cur string) apply.Entry {
			return apply.Entry{Op: drivers.OpEnsureKeyProtector, IdentityChange: true, NewIdentity: cur}
		}, false},
		{"journaled identity is another", func(string) apply.Entry {
			return apply.Entry{Op: drivers.OpEnsureKeyProtector, IdentityChange: true, NewIdentity: other}
		}, true},
		{"pending: identity unknown, any accepted", func(string) apply.Entry {
			return apply.Entry{Op: drivers.OpEnsureKeyProtector, IdentityChange: true, Pending: true}
		}, false},
		{"completed without a readable identity, any accepted", func(string) apply.Entry {
			return apply.Entry{Op: drivers.OpEnsureKeyProtector, IdentityChange: true}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			write(t, filepath.Join(dir, "cluster.yaml"), clusterYAML)
			write(t, filepath.Join(dir, "a.yaml"), vmYAML("a", 2))
			d, diags := spec.Load(spec.LoadOptions{Paths: []string{filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "a.yaml")}})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			reg := drivers.NewRegistry()
			reg.Register(hvmodel.Name, hvmodel.Factory)
			cfg := drivers.Config{StateDir: state}
			p := &watch.Pipeline{Registry: reg, Config: cfg, Mode: watch.ModeCorrect, Retry: apiRetry()}
			if _, err := p.Reconcile(context.Background(), d, watch.TriggerStartup); err != nil {
				t.Fatal(err)
			}
			drv, err := hvmodel.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref := drivers.ClusterRef{Name: "hci-west", Driver: hvmodel.Name, Nodes: []string{"node1", "node2"}, Options: map[string]any{"vtpmBackend": "reference"}}
			vm := func() *drivers.VM {
				v, err := drv.ObserveVM(context.Background(), ref, "a")
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			old := vm().VTPMIdentity
			if _, err := drv.Failover(context.Background(), "hci-west", "a", "node2", true); err != nil {
				t.Fatal(err)
			}
			cur := vm().VTPMIdentity
			if cur == "" || cur == old || old == "" {
				t.Fatalf("identity %q before the failover, %q after: want two different ones", old, cur)
			}
			j, err := apply.OpenJournal(state)
			if err != nil {
				t.Fatal(err)
			}
			e := tt.entry(cur)
			e.Run, e.Cluster, e.Resource, e.Step = "1", "hci-west", "vm/a", "ensure-key-protector"
			if err := j.Record(e); err != nil {
				t.Fatal(err)
			}
			j.Close()

			res, err := p.Reconcile(context.Background(), d, watch.TriggerResync)
			if err != nil {
				t.Fatal(err)
			}
			lost := false
			for _, f := range res.Findings {
				lost = lost || (f.Rule == plan.RuleVTPMStateLost && f.Resource == "vm/a")
			}
			rec := vm().Annotations.VTPMIdentity
			switch {
			case lost != tt.wantLost:
				t.Errorf("vtpm-state-lost reported %v, want %v: %+v", lost, tt.wantLost, res.Findings)
			case tt.wantLost && rec != old:
				t.Errorf("recorded identity %s, want the last verified %s kept", rec, old)
			case !tt.wantLost && rec != cur:
				t.Errorf("recorded identity %s, want the accepted %s", rec, cur)
			}
		})
	}
}
