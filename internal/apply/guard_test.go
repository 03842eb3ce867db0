package apply_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestSessionGuardsEveryVM: whatever a plan says, a session applies no step
// to an unmanaged VM, none but create-vm to an absent one, and no
// destructive step to a protected one; a blocked change is left to its block.
func TestSessionGuardsEveryVM(t *testing.T) {
	unmanaged := runningVM("a")
	unmanaged.Annotations = nil
	protected := runningVM("a")
	protected.Annotations.Protect = true
	reset := func() *plan.Plan { return resetPlan("a") }
	withDesiredProtect := func() *plan.Plan {
		p := resetPlan("a")
		p.Inputs.Desired = &spec.Desired{VMs: []spec.VM{{Name: "a", Cluster: "c1", Protect: true}}}
		return p
	}
	blocked := func() *plan.Plan {
		p := resetPlan("a")
		p.Changes[0].Steps[2].Blocked = &plan.Blocked{Code: plan.BlockProtected, Reason: "vm/a is protected"}
		return p
	}
	tests := []struct {
		name string
		vms  []drivers.VM
		p    func() *plan.Plan
		want string // "" = allowed
	}{
		{"managed VM", []drivers.VM{runningVM("a")}, func() *plan.Plan { return updatePlan("a") }, ""},
		{"unmanaged VM", []drivers.VM{unmanaged}, func() *plan.Plan { return updatePlan("a") }, "vm/a: the VM exists and is not managed by tlreconcile"},
		{"absent VM, no create first", nil, func() *plan.Plan { return updatePlan("a") }, "vm/a: the VM does not exist, and the plan's first step on it is vm/a/stop-vm, not create-vm"},
		{"protected VM, destructive step", []drivers.VM{protected}, reset, "vm/a: vm/a/ensure-key-protector is destructive and the VM is protected"},
		{"desired state says protect", []drivers.VM{runningVM("a")}, withDesiredProtect, "the desired state the plan was made from says protect: true"},
		{"blocked change is left to its block", []drivers.VM{protected}, blocked, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingReg{d: newRec(tt.vms...)}
			s := openSession(t, c, t.TempDir(), false)
			defer s.Close()
			_, err := s.Apply(context.Background(), tt.p(), apply.Options{AllowDestructive: true, Retry: fastRetry})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
				return
			}
			var ge *apply.GuardError
			if !errors.As(err, &ge) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, want a *GuardError containing %q", err, tt.want)
			}
			if got := c.d.ops(); got != "" {
				t.Errorf("ops ran although the plan was refused:\n%s", got)
			}
		})
	}
}
