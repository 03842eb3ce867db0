package plan

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// realHyperV is the hyperv driver's own profile (not a copy, so that a change to it shows
// here): classic Hyper-V whose Secure Boot template stays fixed once the vTPM is initialised
// (also after a vTPM reset: set-secure-boot.ps1 refuses while the .vmgs holds data; Hyper-V's
// own error is "Cannot modify the secure boot template ID property after the virtual TPM is
// initialized"), whose static memory resizes while the VM runs (Set-VMMemory -StartupBytes,
// runtime memory resize since Windows Server 2016), and whose stop is a guest shutdown.
func realHyperV() drivers.Profile {
	d, err := hyperv.New(drivers.Config{})
	if err != nil {
		panic(err)
	}
	return d.Profile()
}

// TestRealHyperVProfile pins what the planner relies on from the hyperv driver's profile.
func TestRealHyperVProfile(t *testing.T) {
	p := realHyperV()
	if !p.TemplateFixedOnceInitialised || !p.GracefulStop || p.NeedsOff(drivers.SettingMemory) || !p.NeedsOff(drivers.SettingSecureBootTemplate) || !p.NeedsOff(drivers.SettingProcessors) {
		t.Errorf("hyperv profile %+v: want the template fixed once initialised, a graceful stop, memory in place, template and processors only while Off", p)
	}
}

// TestRealHyperVRules: on the real-host profile a template change after the vTPM was
// initialised plans no vTPM reset (it would destroy the vTPM and the template change would
// still fail) but a set-secure-boot blocked platform-forbids with what to do; before the vTPM
// was initialised it runs; memory changes without a stop. The zero profile (sim) keeps the
// reset-then-template chain (TestSettingRules).
func TestRealHyperVRules(t *testing.T) {
	uefi := func(d *spec.VM) { d.SecureBoot.Template = spec.TemplateMicrosoftUEFICA }
	notInit := func(o *drivers.VM) { o.VTPMInitialized = false }
	tests := []struct {
		name string
		rule settingRule
		d    *spec.VM
		o    func(*drivers.VM)
		want string
	}{
		{name: "vtpm reset: never for a template change", rule: vtpmResetRule, d: desiredVM(uefi)},
		{name: "secure boot: template change after vTPM init is blocked", rule: secureBootRule, d: desiredVM(uefi),
			want: "set-secure-boot off BLOCKED(platform-forbids) {secureBoot=true template=MicrosoftUEFICertificateAuthority}\ndrift: secureBoot.template is MicrosoftWindows, want MicrosoftUEFICertificateAuthority\n"},
		{name: "secure boot: template change before vTPM init runs", rule: secureBootRule, d: desiredVM(uefi), o: notInit,
			want: "set-secure-boot off {secureBoot=true template=MicrosoftUEFICertificateAuthority}\ndrift: secureBoot.template is MicrosoftWindows, want MicrosoftUEFICertificateAuthority\n"},
		{name: "secure boot: switching it off is not a template change", rule: secureBootRule, d: desiredVM(uefi, func(d *spec.VM) { d.SecureBoot.Enabled = false }),
			want: "set-secure-boot off {secureBoot=false}\ndrift: secureBoot is On, want Off\n"},
		{name: "memory: resized while running", rule: memoryRule, d: desiredVM(), o: func(o *drivers.VM) { o.MemoryMB = 4096 },
			want: "set-memory {memoryMB=8192}\ndrift: memoryMB is 4096, want 8192\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observedVM(desiredVM())
			if tt.o != nil {
				tt.o(o)
			}
			got := describe(tt.rule(tt.d, o, guard{res: "vm/a", prof: realHyperV()}))
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
	blocked := secureBootRule(desiredVM(uefi), observedVM(desiredVM()), guard{res: "vm/a", prof: realHyperV()}).step.step.Blocked
	if blocked == nil || !strings.Contains(blocked.Reason, "keep template MicrosoftWindows") || !strings.Contains(blocked.Reason, "replace the VM") {
		t.Errorf("blocked %+v: want a reason that says to keep the template or replace the VM", blocked)
	}
}
