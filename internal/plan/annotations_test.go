package plan

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func TestRecord(t *testing.T) {
	tests := []struct {
		name        string
		d           *spec.VM
		o           func(*drivers.VM)
		accept      bool
		newIdentity bool
		node        string
		otherSteps  bool
		wantNeeded  bool
		wantID      string
		wantStep    string // the set-annotations reason
		wantChange  string // the reason of a change that only writes the record
	}{
		{name: "in sync: nothing to record", d: desiredVM(), node: "node1", wantID: idA},
		{name: "in sync but other steps: record that the VM matches", d: desiredVM(), node: "node1", otherSteps: true, wantNeeded: true, wantID: idA,
			wantStep: "record that the VM matches the YAML", wantChange: "update tlreconcile's record on the VM"},
		{name: "YAML edited, VM already matches", d: desiredVM(), o: func(o *drivers.VM) { o.Annotations.SpecHash = "old" }, node: "node1", wantNeeded: true, wantID: idA,
			wantStep: "record the spec hash", wantChange: "the YAML changed but the VM already matches it: record the new spec hash"},
		{name: "protect changed", d: desiredVM(func(d *spec.VM) { d.Protect = true }), o: func(o *drivers.VM) { o.Annotations.SpecHash = desiredVM(func(d *spec.VM) { d.Protect = true }).Hash() },
			node: "node1", wantNeeded: true, wantID: idA, wantStep: "record protect: true", wantChange: "record protect: true on the VM"},
		{name: "moved by the cluster", d: desiredVM(), o: func(o *drivers.VM) { o.Node = "node2" }, node: "node2", wantNeeded: true, wantID: idA,
			wantStep: "record node node2", wantChange: "moved by the cluster from node node1 to node node2: record the new node"},
		{name: "first identity observed", d: desiredVM(), o: func(o *drivers.VM) { o.Annotations.VTPMIdentity = "" }, node: "node1", wantNeeded: true, wantID: idA,
			wantStep: "record vTPM identity aaaaaaaaaaaa", wantChange: "record the vTPM identity aaaaaaaaaaaa observed on node node1"},
		{name: "lost: keep the verified identity", d: desiredVM(), o: func(o *drivers.VM) { o.VTPMIdentity = idB }, node: "node1", otherSteps: true, wantNeeded: true, wantID: idA,
			wantStep: "record that the VM matches the YAML; the last verified vTPM identity is kept, because the current one differs (see the vtpm-state-lost finding)", wantChange: "update tlreconcile's record on the VM"},
		{name: "accepted: record the new identity", d: desiredVM(), o: func(o *drivers.VM) { o.VTPMIdentity = idB }, accept: true, node: "node1", wantNeeded: true, wantID: idB,
			wantStep: "record vTPM identity bbbbbbbbbbbb", wantChange: "record the vTPM identity bbbbbbbbbbbb observed on node node1"},
		{name: "new identity: apply records it", d: desiredVM(), newIdentity: true, node: "node1", otherSteps: true, wantNeeded: true, wantID: "",
			wantStep: "record the new vTPM identity that apply verifies", wantChange: "record the vTPM identity (none) observed on node node1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observedVM(desiredVM())
			if tt.o != nil {
				tt.o(o)
			}
			id := identityOf(o, func(string) bool { return tt.accept })
			r := recordFor(tt.d, o, id, tt.newIdentity, tt.node)
			if r.new.VTPMIdentity != tt.wantID || r.new.Node != tt.node || r.new.SpecHash != tt.d.Hash() || r.new.Protect != tt.d.Protect {
				t.Errorf("record %+v, want identity %q node %s", *r.new, tt.wantID, tt.node)
			}
			if got := r.needed(tt.otherSteps); got != tt.wantNeeded {
				t.Fatalf("needed = %t, want %t", got, tt.wantNeeded)
			}
			if !tt.wantNeeded {
				return
			}
			if got := r.step(); got.kind != drivers.OpSetAnnotations || got.params.Annotations != r.new || got.step.Reason != tt.wantStep {
				t.Errorf("step %s %q, want set-annotations %q", got.kind, got.step.Reason, tt.wantStep)
			}
			if got := annotationChangeReason(r.old, r.new, o); got != tt.wantChange {
				t.Errorf("change reason %q, want %q", got, tt.wantChange)
			}
		})
	}
}
