package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDriverOptionsAreChecked: each driver's options are checked against its
// own schema at validate time, with file:line and a did-you-mean, instead of
// failing at observe with "check that the cluster is reachable".
func TestDriverOptionsAreChecked(t *testing.T) {
	azure := `{subscriptionId: 00000000-0000-0000-0000-000000000000, resourceGroup: rg, location: eastus,
      customLocation: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ExtendedLocation/customLocations/cl}`
	for _, tc := range []struct {
		name, driver, options string
		want                  string // "" = valid
	}{
		{"sim unknown option", "sim", "{colour: red}", `a.yaml:7:13: error[unknown-field]: unknown field "colour" in spec.options`},
		{"sim takes no options", "", "{vtpmBackend: swtpm}", `unknown field "vtpmBackend" in spec.options`},
		{"sim empty options", "sim", "{}", ""},
		{"hyperv misspelt", "hyperv", "{transprot: ssh}", `(did you mean "transport"?)`},
		{"hyperv valid", "hyperv", "{transport: ssh, user: admin, nodes: {node1: {host: 10.0.0.1}}, timeout: 5m}", ""},
		{"hyperv clustered on local disk", "hyperv", `{clustered: true, vmPath: 'D:\VMs'}`, "error[clustered-vm-path-not-cluster-storage]"},
		{"hyperv clustered without vmPath", "hyperv", "{clustered: true}", "options.vmPath is not set"},
		{"hyperv clustered on a CSV", "hyperv", `{clustered: true, vmPath: 'C:\ClusterStorage\Volume1\VMs'}`, ""},
		{"hyperv not clustered", "hyperv", `{clustered: false, vmPath: 'D:\VMs'}`, ""},
		{"hyperv bad duration", "hyperv", "{timeout: soon}", "spec.options.timeout"},
		{"azurelocal without azure", "azurelocal", "{logicalNetwork: lnet}", "missing required field(s) azure"},
		{"azurelocal without options", "azurelocal", "", "missing required field(s) options"},
		{"azurelocal valid", "azurelocal", "{azure: " + azure + ", logicalNetwork: lnet, nodeAccess: {transport: ssh, user: admin}}", ""},
		{"azurelocal misspelt node access", "azurelocal", "{azure: " + azure + ", nodeAccess: {usr: admin}}", `(did you mean "user"?)`},
		{"azurelocal bad subscription", "azurelocal", "{azure: {subscriptionId: mine, resourceGroup: rg, location: eastus, customLocation: /x}}", "spec.options.azure.subscriptionId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [node1]\n"
			if tc.driver != "" {
				doc += "  driver: " + tc.driver + "\n"
			} else {
				doc += "  # default driver\n"
			}
			if tc.options != "" {
				doc += "  options: " + tc.options + "\n"
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := Load(LoadOptions{Paths: []string{filepath.Join(dir, "a.yaml")}})
			var text []string
			for _, d := range diags {
				text = append(text, fmt.Sprintf("%s:%d:%d: %s[%s]: %s", filepath.Base(d.File), d.Line, d.Column, d.Severity, d.Rule, d.Message))
			}
			all := strings.Join(text, "\n")
			switch {
			case tc.want == "" && diags.HasErrors():
				t.Fatalf("want valid, got:\n%s", all)
			case tc.want != "" && !strings.Contains(all, tc.want):
				t.Fatalf("want %q in:\n%s", tc.want, all)
			}
		})
	}
}

// TestAttestationIdentityOnAzureLocal: spec.attestation on an azurelocal cluster that does not
// read vTPM identities (options.guestAgent not true) is a warning at the VM's attestation line;
// with guestAgent: true, attestation off, or another driver, there is none.
func TestAttestationIdentityOnAzureLocal(t *testing.T) {
	azure := `{azure: {subscriptionId: 00000000-0000-0000-0000-000000000000, resourceGroup: rg, location: eastus,
      customLocation: /subscriptions/s/resourceGroups/rg/providers/Microsoft.ExtendedLocation/customLocations/cl}, logicalNetwork: lnet`
	for _, tc := range []struct {
		name, driver, options, attestation string
		warn                               bool
	}{
		{"default guestAgent", "azurelocal", azure + "}", "{interval: 24h}", true},
		{"guestAgent false", "azurelocal", azure + ", guestAgent: false}", "{}", true},
		{"guestAgent true", "azurelocal", azure + ", guestAgent: true}", "{}", false},
		{"attestation off", "azurelocal", azure + "}", "{enabled: false}", false},
		{"sim reads identities", "sim", "{}", "{}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [node1]\n  driver: " + tc.driver +
				"\n  options: " + tc.options + "\n---\napiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1}\nspec:\n" +
				"  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}\n" +
				"  attestation: " + tc.attestation + "\n"
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, diags := Load(LoadOptions{Paths: []string{filepath.Join(dir, "a.yaml")}})
			var got []string
			for _, d := range diags {
				if d.Rule == RuleAttestationUnpinned {
					got = append(got, fmt.Sprintf("%d:%d %s %s", d.Line, d.Column, d.Severity, d.Message))
				}
			}
			switch {
			case diags.HasErrors():
				t.Fatalf("the fixture is invalid: %+v", diags)
			case tc.warn && (len(got) != 1 || !strings.HasPrefix(got[0], "15:16 warning") || !strings.Contains(got[0], "options.guestAgent: true")):
				t.Errorf("want one warning at the attestation (15:16) saying the fix, got %q", got)
			case !tc.warn && len(got) != 0:
				t.Errorf("want no warning, got %q", got)
			}
		})
	}
}
