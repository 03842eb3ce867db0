package plan_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestReplan: a plan read back from its file plans again to the same changes
// against the same observation; each kind of edit is named.
func TestReplan(t *testing.T) {
	nodes := healthyNodes()
	d := desiredOf(clusterSpec(), vmSpec("a", func(v *spec.VM) { v.Placement.Node = "node2" }), vmSpec("b", func(v *spec.VM) { v.Processors = 4 }))
	d.VMs[0].Pos = spec.Pos{File: "desired.yaml", Line: 12, Column: 1}
	obs := observedOf(nodes, synced(vmSpec("b"), "node1", id1, func(o *drivers.VM) { o.Processors = 2 }))
	p := mustBuild(t, d, obs, plan.Options{Prune: true})
	var file bytes.Buffer
	if err := plan.Write(&file, p); err != nil {
		t.Fatal(err)
	}
	read := func() *plan.Plan {
		t.Helper()
		back, err := plan.Read(bytes.NewReader(file.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	if err := plan.Replan(read(), obs); err != nil {
		t.Fatalf("an untouched plan: %v", err)
	}
	step := func(p *plan.Plan, id string) *plan.Step {
		for i := range p.Changes {
			for j := range p.Changes[i].Steps {
				if p.Changes[i].Steps[j].ID == id {
					return &p.Changes[i].Steps[j]
				}
			}
		}
		t.Fatalf("no step %s", id)
		return nil
	}
	tests := []struct {
		name string
		edit func(p *plan.Plan)
		want string
	}{
		{"a parameter", func(p *plan.Plan) { step(p, "vm/b/set-processor").Params.Processors = 8 },
			"vm/b: step vm/b/set-processor: params.processors is 8 in the file, planning again gives 4"},
		{"a flag", func(p *plan.Plan) { step(p, "vm/b/stop-vm").Disruptive = false },
			"vm/b: step vm/b/stop-vm: disruptive is false in the file, planning again gives true"},
		{"a dropped step", func(p *plan.Plan) {
			c := &p.Changes[len(p.Changes)-1]
			c.Steps = c.Steps[:len(c.Steps)-1]
		}, "vm/b: the file lacks step vm/b/set-annotations (set-annotations)"},
		{"a dropped change", func(p *plan.Plan) { p.Changes = p.Changes[:len(p.Changes)-1] }, "vm/b: the file lacks the update change that planning again makes"},
		{"an added change", func(p *plan.Plan) {
			p.Changes = append(p.Changes, plan.Change{Resource: "vm/x", Cluster: "c1", Action: plan.ActionDelete})
		}, "vm/x: the file has a change (delete) that planning again does not make"},
		{"the recorded options", func(p *plan.Plan) { p.Inputs.Options.Prune = false; p.Inputs.Options.Targets = []string{"vm/a"} },
			"vm/b: the file has a change (update) that planning again does not make"},
		{"the recorded desired state", func(p *plan.Plan) { p.Inputs.Desired.VMs[1].Processors = 8 },
			"desired_hash is"},
		{"no recorded desired state", func(p *plan.Plan) { p.Inputs.Desired = nil }, "records no desired state"},
		{"a position", func(p *plan.Plan) { p.Inputs.Positions.VMs[0].Line = 99 },
			`vm/a: reasons.0 is "not found in cluster c1 (declared at desired.yaml:12)" in the file, planning again gives "not found in cluster c1 (declared at desired.yaml:99)"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := read()
			tt.edit(p)
			err := plan.Replan(p, obs)
			var re *plan.ReplanError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Replan = %v, want a *ReplanError containing %q", err, tt.want)
			}
		})
	}
	t.Run("the clusters moved", func(t *testing.T) {
		moved := observedOf(nodes, synced(vmSpec("b"), "node1", id1, func(o *drivers.VM) { o.Processors = 4 }))
		if err := plan.Replan(read(), moved); err == nil || !strings.Contains(err.Error(), "vm/b: the file has a change (update)") {
			t.Fatalf("Replan against another observation = %v", err)
		}
	})
}
