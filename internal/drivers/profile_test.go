package drivers_test

import (
	"context"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

type plain struct{}

func (plain) Observe(context.Context, drivers.ClusterRef) (*drivers.Observed, error) { return nil, nil }
func (plain) Apply(context.Context, drivers.ClusterRef, drivers.Op) (drivers.Result, error) {
	return drivers.Result{}, nil
}

type azl struct{ plain }

func (azl) Profile() drivers.Profile { return drivers.AzureLocal() }

func TestProfiles(t *testing.T) {
	if got := drivers.ProfileOf(plain{}); got.Name != "classic-hyperv" {
		t.Errorf("a driver without a profile: %q, want classic-hyperv", got.Name)
	}
	if got := (drivers.Profile{}).OrDefault(); got.Name != "classic-hyperv" {
		t.Errorf("zero profile: %q", got.Name)
	}
	al := drivers.ProfileOf(azl{})
	for _, tc := range []struct {
		what string
		got  bool
		want bool
	}{
		{"azure-local has no key protector op", al.Has(drivers.OpEnsureKeyProtector), false},
		{"azure-local has no TPM op", al.Has(drivers.OpEnableTPM) || al.Has(drivers.OpDisableTPM), false},
		{"azure-local has set-hardware", al.Has(drivers.OpSetHardware), true},
		{"azure-local fixes the vTPM at create", al.IsCreateOnly(drivers.SettingVTPM), true},
		{"azure-local re-enables Secure Boot", al.CanReEnable(drivers.SettingSecureBoot), true},
		{"azure-local changes memory while running", al.NeedsOff(drivers.SettingMemory), false},
		{"classic changes the vTPM in place", drivers.ClassicHyperV().IsCreateOnly(drivers.SettingVTPM), false},
		{"classic has no set-hardware", drivers.ClassicHyperV().Has(drivers.OpSetHardware), false},
		{"azure-local guest state key", al.Protection == drivers.ProtectionGuestStateKey, true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v", tc.what, tc.got)
		}
	}
	for _, p := range []drivers.Profile{drivers.ClassicHyperV(), drivers.AzureLocal()} {
		for _, op := range p.Ops {
			if !op.Valid() {
				t.Errorf("%s lists unknown op %q", p.Name, op)
			}
		}
	}
}
