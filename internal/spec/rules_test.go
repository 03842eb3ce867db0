package spec_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Each trusted-launch rule: the diagnostic's rule, position, severity and the
// words that tell the user what to do.
func TestRules(t *testing.T) {
	clusterWith := func(name, line string) string {
		return "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: " + name + "}\nspec:\n  nodes: [n1]\n  " + line + "\n"
	}
	cases := []struct {
		name      string
		files     map[string]string
		rule      string
		file      string
		line, col int
		sev       spec.Severity
		words     []string
	}{
		{name: "duplicate VM across files", rule: spec.RuleDuplicateName, file: "b.yaml", line: 3, col: 18, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "a.yaml": vmYAML("v1"), "b.yaml": vmYAML("v1")},
			words: []string{`"v1"`, "a.yaml:3:18", "rename"}},
		{name: "duplicate VM other place", rule: spec.RuleDuplicateName, file: "a.yaml", line: 3, col: 18, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "a.yaml": vmYAML("v1"), "b.yaml": vmYAML("v1")},
			words: []string{"b.yaml:3:18"}},
		{name: "duplicate cluster", rule: spec.RuleDuplicateName, file: "c.yaml", line: 9, col: 18, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML + "---\n" + clusterYAML},
			words: []string{"Cluster name \"c1\"", "c.yaml:3:18"}},
		{name: "unknown cluster", rule: spec.RuleUnknownCluster, file: "v.yaml", line: 3, col: 31, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": strings.Replace(vmYAML("v1"), "cluster: c1", "cluster: c9", 1)},
			words: []string{`"c9"`, "c1"}},
		{name: "unknown cluster, none declared", rule: spec.RuleUnknownCluster, file: "v.yaml", line: 3, col: 31, sev: spec.SeverityError,
			files: map[string]string{"v.yaml": vmYAML("v1")}, words: []string{"declare a Cluster document"}},
		{name: "unknown node", rule: spec.RuleUnknownNode, file: "v.yaml", line: 6, col: 21, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "placement: {node: n7}")},
			words: []string{`"n7"`, "n1, n2", "spec.nodes"}},
		{name: "image version differs", rule: spec.RuleImageNotSupported, file: "v.yaml", line: 5, col: 96, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": strings.Replace(vmYAML("v1"), "22621.2428.231001", "22621.2428.231002", 1)},
			words: []string{"version is \"22621.2428.231002\"", "nearest supported image microsoftwindowsdesktop / windows-11 / win11-22h2-avd / 22621.2428.231001", "outside Azure Marketplace are not supported"}},
		{name: "image sku differs", rule: spec.RuleImageNotSupported, file: "v.yaml", line: 5, col: 71, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": strings.Replace(vmYAML("v1"), "sku: win11-22h2-avd,", "sku: win11-23h2-avd,", 1)},
			words: []string{"sku is \"win11-23h2-avd\"", "ImageCatalog"}},
		{name: "image from elsewhere", rule: spec.RuleImageNotSupported, file: "v.yaml", line: 5, col: 22, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": strings.Replace(vmYAML("v1"), "publisher: microsoftwindowsdesktop", "publisher: canonical", 1)},
			words: []string{"publisher is \"canonical\""}},
		{name: "trusted launch without secure boot", rule: spec.RuleTLNeedsSBAndVTPM, file: "v.yaml", line: 6, col: 25, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "secureBoot: {enabled: false}")},
			words: []string{"secureBoot.enabled: true", "securityType: Standard"}},
		{name: "trusted launch without vTPM", rule: spec.RuleTLNeedsSBAndVTPM, file: "v.yaml", line: 6, col: 19, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "vtpm: {enabled: false}")},
			words: []string{"vtpm.enabled: true"}},
		{name: "template for Linux on Windows", rule: spec.RuleTemplateMismatch, file: "v.yaml", line: 6, col: 26, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "secureBoot: {template: OpenSourceShieldedVM}")},
			words: []string{"use MicrosoftWindows"}},
		{name: "boot integrity", rule: spec.RuleBootIntegrity, file: "v.yaml", line: 6, col: 30, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "bootIntegrityVerification: true")},
			words: []string{"guest boot integrity verification is not available from the platform on Azure Local", "declare spec.attestation"}},
		{name: "processors too many", rule: spec.RuleProcessorsRange, file: "v.yaml", line: 6, col: 15, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "processors: 241")}, words: []string{"1 to 240"}},
		{name: "processors zero", rule: spec.RuleProcessorsRange, file: "v.yaml", line: 6, col: 15, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "processors: 0")}, words: []string{"1 to 240"}},
		{name: "memory too small", rule: spec.RuleMemoryRange, file: "v.yaml", line: 6, col: 13, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "memoryMB: 511")}, words: []string{"512 to 12582912"}},
		{name: "memory too large", rule: spec.RuleMemoryRange, file: "v.yaml", line: 6, col: 13, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("v1", "memoryMB: 12582913")}, words: []string{"512 to 12582912"}},
		{name: "name too long", rule: spec.RuleInvalidName, file: "v.yaml", line: 3, col: 18, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML(strings.Repeat("a", 64))}, words: []string{"1-63"}},
		{name: "name with bad start", rule: spec.RuleInvalidName, file: "v.yaml", line: 3, col: 18, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": clusterYAML, "v.yaml": vmYAML("_v")}, words: []string{"starting with a letter or digit"}},
		{name: "node name with space", rule: spec.RuleInvalidName, file: "c.yaml", line: 5, col: 15, sev: spec.SeverityError,
			files: map[string]string{"c.yaml": strings.Replace(clusterYAML, "n2]", "\"n 2\"]", 1)}, words: []string{`"n 2"`}},
		{name: "migration unencrypted", rule: spec.RuleLiveMigrationPlain, file: "c.yaml", line: 6, col: 31, sev: spec.SeverityWarning,
			files: map[string]string{"c.yaml": clusterWith("c1", "liveMigration: {encryption: none}")},
			words: []string{"live-migration traffic is not encrypted", "IPsec is strongly recommended"}},
		{name: "igvm agent ignored", rule: spec.RuleIgvmAgentIgnored, file: "c.yaml", line: 6, col: 14, sev: spec.SeverityWarning,
			files: map[string]string{"c.yaml": clusterWith("c1", "igvmAgent: ignore")}, words: []string{"vTPM state transfer"}},
		{name: "file access ignored", rule: spec.RuleVMFileAccessIgnored, file: "c.yaml", line: 6, col: 17, sev: spec.SeverityWarning,
			files: map[string]string{"c.yaml": clusterWith("c1", "vmFileAccess: ignore")}, words: []string{"host administrators"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, ds := load(t, dir)
			d := wantDiag(t, dir, ds, tc.rule, tc.file, tc.line, tc.col)
			if d.Severity != tc.sev {
				t.Errorf("severity = %s, want %s", d.Severity, tc.sev)
			}
			for _, w := range tc.words {
				if !strings.Contains(d.Message, w) {
					t.Errorf("message lacks %q: %s", w, d.Message)
				}
			}
		})
	}
}

// A broken Cluster is reported once; VMs naming it do not add unknown-cluster noise.
func TestRulesNoCascade(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"c.yaml": clusterYAML + "  typo: 1\n",
		"v.yaml": vmYAML("v1"),
	})
	_, ds := load(t, dir)
	if len(ds) != 1 || ds[0].Rule != spec.RuleUnknownField {
		t.Errorf("want only the unknown field, got:\n%s", render(dir, ds))
	}
}

// Sorting is by file, then line, then column, whatever order files are read in.
func TestDiagnosticsSorted(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"b.yaml": vmYAML("v1", "processors: 0", "memoryMB: 1"),
		"a.yaml": clusterYAML + "  x: 1\n  y: 2\n",
	})
	_, ds := load(t, dir)
	got := render(dir, ds)
	want := "a.yaml:6:3: error[unknown-field]"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("first diagnostic should be %q:\n%s", want, got)
	}
	for i := 1; i < len(ds); i++ {
		a, b := ds[i-1], ds[i]
		if a.File > b.File || (a.File == b.File && (a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column))) {
			t.Errorf("not sorted:\n%s", got)
		}
	}
}

// Merge keys and anchors inside a document work like yaml.v3 decoding does.
func TestLoadAnchorsAndMerge(t *testing.T) {
	doc := "apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1, cluster: c1}\nspec:\n" +
		"  image: &img " + goodImage + "\n  placement: {node: n2}\n  secureBoot:\n    <<: {enabled: true, template: MicrosoftUEFICertificateAuthority}\n    template: MicrosoftWindows\n"
	dir := writeTree(t, map[string]string{"c.yaml": clusterYAML, "v.yaml": doc})
	d, ds := load(t, dir)
	if len(ds) != 0 {
		t.Fatalf("unexpected:\n%s", render(dir, ds))
	}
	if got := d.VMs[0].SecureBoot.Template; got != spec.TemplateMicrosoftWindows {
		t.Errorf("template = %s; an explicit key must win over a merged one", got)
	}
}
