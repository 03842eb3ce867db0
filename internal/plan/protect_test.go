package plan

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func TestGuardedChange(t *testing.T) {
	recorded := func(o *drivers.VM) { o.Annotations.Protect = true }
	noVTPM := func(d *spec.VM) { d.VTPM.Enabled = false }
	uefi := func(d *spec.VM) { d.SecureBoot.Template = spec.TemplateMicrosoftUEFICA }
	tests := []struct {
		name string
		d    *spec.VM
		o    []func(*drivers.VM)
		why  []string
		want string
	}{
		{name: "not protected on the VM", d: desiredVM(noVTPM)},
		{name: "still protected in the YAML", d: desiredVM(noVTPM, func(d *spec.VM) { d.Protect = true }), o: []func(*drivers.VM){recorded}},
		{name: "released, nothing guarded", d: desiredVM(), o: []func(*drivers.VM){recorded}},
		{name: "released, a replace", d: desiredVM(), o: []func(*drivers.VM){recorded}, why: []string{"generation is 1", "securityType differs"},
			want: "a replace (generation is 1; securityType differs)"},
		{name: "released, disabling the vTPM", d: desiredVM(noVTPM), o: []func(*drivers.VM){recorded}, want: "disabling the vTPM"},
		{name: "released, a vTPM reset", d: desiredVM(uefi), o: []func(*drivers.VM){recorded},
			want: "a vTPM reset (the Secure Boot template changes after the vTPM was initialised)"},
		{name: "released, a template change before the vTPM is initialised is not guarded", d: desiredVM(uefi),
			o: []func(*drivers.VM){recorded, func(o *drivers.VM) { o.VTPMInitialized = false }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guardedChange(tt.d, observedVM(desiredVM(), tt.o...), tt.why); got != tt.want {
				t.Errorf("guardedChange = %q, want %q", got, tt.want)
			}
		})
	}
}
