package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// describe renders a setting as one comparable string: the step's op, flags
// and params, then the drift, then whether the identity is new.
func describe(c setting) string {
	var b strings.Builder
	if p := c.step; c.planned() {
		fmt.Fprintf(&b, "%s", p.kind)
		if p.step.RequiresPowerOff {
			b.WriteString(" off")
		}
		if p.step.Destructive {
			b.WriteString(" destructive")
		}
		if p.step.Blocked != nil {
			fmt.Fprintf(&b, " BLOCKED(%s)", p.step.Blocked.Code)
		}
		if p.params != nil {
			fmt.Fprintf(&b, " %s", describeParams(p.params))
		}
		b.WriteString("\n")
	}
	for _, d := range c.drift {
		if d != "" {
			fmt.Fprintf(&b, "drift: %s\n", d)
		}
	}
	if c.newIdentity {
		b.WriteString("new identity\n")
	}
	return b.String()
}

func describeParams(p *drivers.Params) string {
	var f []string
	if p.Reset {
		f = append(f, "reset")
	}
	if p.SecureBoot != nil {
		f = append(f, fmt.Sprintf("secureBoot=%t", *p.SecureBoot))
	}
	if p.SecureBootTemplate != "" {
		f = append(f, "template="+p.SecureBootTemplate)
	}
	if p.EncryptState != nil {
		f = append(f, fmt.Sprintf("encrypt=%t", *p.EncryptState))
	}
	if p.VBSOptOut != nil {
		f = append(f, fmt.Sprintf("vbsOptOut=%t", *p.VBSOptOut))
	}
	if p.Processors != 0 {
		f = append(f, fmt.Sprintf("processors=%d", p.Processors))
	}
	if p.MemoryMB != 0 {
		f = append(f, fmt.Sprintf("memoryMB=%d", p.MemoryMB))
	}
	return "{" + strings.Join(f, " ") + "}"
}

func TestSettingRules(t *testing.T) {
	uefi := func(d *spec.VM) { d.SecureBoot.Template = spec.TemplateMicrosoftUEFICA }
	notInit := func(o *drivers.VM) { o.VTPMInitialized = false }
	tests := []struct {
		name    string
		rule    settingRule
		d       *spec.VM
		o       func(*drivers.VM)
		protect bool
		want    string
	}{
		{name: "vtpm reset: in sync", rule: vtpmResetRule, d: desiredVM()},
		{name: "vtpm reset: template change before the vTPM is initialised needs none", rule: vtpmResetRule, d: desiredVM(uefi), o: notInit},
		{name: "vtpm reset: template change after the vTPM is initialised", rule: vtpmResetRule, d: desiredVM(uefi),
			want: "ensure-key-protector off destructive {reset}\nnew identity\n"},
		{name: "vtpm reset: blocked when protected", rule: vtpmResetRule, d: desiredVM(uefi), protect: true,
			want: "ensure-key-protector off destructive BLOCKED(protected) {reset}\nnew identity\n"},
		{name: "vtpm reset: turning Secure Boot off keeps the template", rule: vtpmResetRule,
			d: desiredVM(uefi, func(d *spec.VM) { d.SecureBoot.Enabled = false })},

		{name: "secure boot: in sync", rule: secureBootRule, d: desiredVM()},
		{name: "secure boot: off, want on", rule: secureBootRule, d: desiredVM(), o: func(o *drivers.VM) { o.SecureBoot = false },
			want: "set-secure-boot off {secureBoot=true template=MicrosoftWindows}\ndrift: secureBoot is Off, want On\n"},
		{name: "secure boot: on, want off names no template", rule: secureBootRule, d: desiredVM(func(d *spec.VM) { d.SecureBoot.Enabled = false }),
			want: "set-secure-boot off {secureBoot=false}\ndrift: secureBoot is On, want Off\n"},
		{name: "secure boot: template and state in one step", rule: secureBootRule, d: desiredVM(uefi), o: func(o *drivers.VM) { o.SecureBoot, o.SecureBootTemplate = false, "" },
			want: "set-secure-boot off {secureBoot=true template=MicrosoftUEFICertificateAuthority}\ndrift: secureBoot is Off, want On\ndrift: secureBoot.template is (none), want MicrosoftUEFICertificateAuthority\n"},

		{name: "key protector: present", rule: keyProtectorRule, d: desiredVM()},
		{name: "key protector: missing", rule: keyProtectorRule, d: desiredVM(), o: func(o *drivers.VM) { o.KeyProtector = false },
			want: "ensure-key-protector off {}\n"},
		{name: "key protector: missing, state encryption alone needs one", rule: keyProtectorRule,
			d: desiredVM(func(d *spec.VM) { d.VTPM.Enabled = false }), o: func(o *drivers.VM) { o.KeyProtector = false },
			want: "ensure-key-protector off {}\n"},
		{name: "key protector: missing and not needed", rule: keyProtectorRule,
			d: desiredVM(func(d *spec.VM) { d.VTPM.Enabled, d.EncryptStateAndMigrationTraffic = false, false }), o: func(o *drivers.VM) { o.KeyProtector = false }},
		{name: "key protector: a vTPM reset makes a new one", rule: keyProtectorRule, d: desiredVM(uefi), o: func(o *drivers.VM) { o.KeyProtector = false }},

		{name: "tpm: in sync", rule: tpmRule, d: desiredVM()},
		{name: "tpm: disabled, want enabled", rule: tpmRule, d: desiredVM(), o: func(o *drivers.VM) { o.TPMEnabled = false },
			want: "enable-tpm off\ndrift: vtpm is disabled, want enabled\nnew identity\n"},
		{name: "tpm: enabled, want disabled", rule: tpmRule, d: desiredVM(func(d *spec.VM) { d.VTPM.Enabled = false }),
			want: "disable-tpm off destructive\ndrift: vtpm is enabled, want disabled\nnew identity\n"},
		{name: "tpm: disabling is blocked when protected", rule: tpmRule, d: desiredVM(func(d *spec.VM) { d.VTPM.Enabled = false }), protect: true,
			want: "disable-tpm off destructive BLOCKED(protected)\ndrift: vtpm is enabled, want disabled\nnew identity\n"},

		{name: "security: in sync", rule: securityRule, d: desiredVM()},
		{name: "security: state encryption alone runs while the VM runs", rule: securityRule, d: desiredVM(), o: func(o *drivers.VM) { o.EncryptState = false },
			want: "set-security {encrypt=true vbsOptOut=false}\ndrift: encryptStateAndMigrationTraffic is false, want true\n"},
		{name: "security: the VBS opt-out needs the VM Off", rule: securityRule, d: desiredVM(func(d *spec.VM) { d.VBS = false }),
			want: "set-security off {encrypt=true vbsOptOut=true}\ndrift: vbs is allowed, want opted out\n"},
		{name: "security: both in one step", rule: securityRule, d: desiredVM(), o: func(o *drivers.VM) { o.EncryptState, o.VBSOptOut = false, true },
			want: "set-security off {encrypt=true vbsOptOut=false}\ndrift: encryptStateAndMigrationTraffic is false, want true\ndrift: vbs is opted out, want allowed\n"},

		{name: "processors: in sync", rule: processorsRule, d: desiredVM()},
		{name: "processors: differ", rule: processorsRule, d: desiredVM(), o: func(o *drivers.VM) { o.Processors = 2 },
			want: "set-processor off {processors=4}\ndrift: processors is 2, want 4\n"},

		{name: "memory: in sync", rule: memoryRule, d: desiredVM()},
		{name: "memory: differs", rule: memoryRule, d: desiredVM(), o: func(o *drivers.VM) { o.MemoryMB = 4096 },
			want: "set-memory off {memoryMB=8192}\ndrift: memoryMB is 4096, want 8192\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observedVM(desiredVM())
			if tt.o != nil {
				tt.o(o)
			}
			got := describe(tt.rule(tt.d, o, guard{res: "vm/a", protect: tt.protect}))
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestSettingsOrder pins the DESIGN order of the setting steps when every
// setting differs.
func TestSettingsOrder(t *testing.T) {
	d := desiredVM(func(d *spec.VM) { d.SecureBoot.Template = spec.TemplateMicrosoftUEFICA; d.VBS = false })
	o := observedVM(desiredVM(), func(o *drivers.VM) {
		o.SecureBoot, o.TPMEnabled, o.EncryptState, o.Processors, o.MemoryMB = false, false, false, 2, 4096
	})
	var ops []string
	for _, s := range settings(d, o, guard{res: "vm/a"}) {
		if s.planned() {
			ops = append(ops, string(s.step.kind))
		}
	}
	want := "ensure-key-protector set-secure-boot enable-tpm set-security set-processor set-memory"
	if got := strings.Join(ops, " "); got != want {
		t.Errorf("order = %s, want %s", got, want)
	}
}
