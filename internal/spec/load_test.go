package spec_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Bad input of every kind gives a located diagnostic, never a panic.
func TestLoadBadInput(t *testing.T) {
	deepFlow := "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [n1]\n  options: {x: " +
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}\n"
	var deepBlock strings.Builder
	deepBlock.WriteString("apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [n1]\n  options:\n")
	for i := 0; i < 150; i++ {
		deepBlock.WriteString(strings.Repeat(" ", 4+i*2) + "a:\n")
	}
	bomb := "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [n1]\n  options:\n" +
		"    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += "    " + n + ": &" + n + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]\n"
		prev = n
	}
	cases := []struct {
		name      string
		content   string
		rule      string
		line, col int
		sev       spec.Severity
	}{
		{"malformed", "apiVersion: tlreconcile/v1alpha1\nkind: [Cluster\n", spec.RuleYAMLSyntax, 2, 1, spec.SeverityError},
		{"unclosed quote", "apiVersion: \"tlreconcile/v1alpha1\nkind: Cluster\n", spec.RuleYAMLSyntax, 0, 0, spec.SeverityError},
		{"tabs", "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata:\n\tname: c1\n", spec.RuleYAMLTabs, 4, 1, spec.SeverityError},
		{"duplicate key", clusterYAML + "metadata: {name: c2}\n", spec.RuleDuplicateKey, 6, 1, spec.SeverityError},
		{"unknown field", clusterYAML + "  colour: red\n", spec.RuleUnknownField, 6, 3, spec.SeverityError},
		{"unknown top-level field", clusterYAML + "status: {}\n", spec.RuleUnknownField, 6, 1, spec.SeverityError},
		{"wrong type", vmYAML("v1", "processors: four"), spec.RuleSchema, 6, 15, spec.SeverityError},
		{"wrong type object", "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: c1\nspec: {nodes: [n1]}\n", spec.RuleSchema, 3, 11, spec.SeverityError},
		{"not a mapping", "- a\n- b\n", spec.RuleSchema, 1, 1, spec.SeverityError},
		{"missing kind", "apiVersion: tlreconcile/v1alpha1\nmetadata: {name: x}\n", spec.RuleSchema, 1, 1, spec.SeverityError},
		{"unknown kind", "apiVersion: tlreconcile/v1alpha1\nkind: Pod\n", spec.RuleSchema, 2, 7, spec.SeverityError},
		{"wrong apiVersion", "apiVersion: v1\nkind: Cluster\nmetadata: {name: c1}\nspec: {nodes: [n1]}\n", spec.RuleSchema, 1, 13, spec.SeverityError},
		{"missing required nested", "apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v}\nspec:\n  image: {publisher: p}\n", spec.RuleSchema, 5, 3, spec.SeverityError},
		{"empty document", clusterYAML + "---\n", spec.RuleEmptyDocument, 6, 1, spec.SeverityWarning},
		{"whitespace only", "   \n\n", spec.RuleEmptyDocument, 1, 1, spec.SeverityWarning},
		{"empty file", "", spec.RuleEmptyDocument, 1, 1, spec.SeverityWarning},
		{"comments only", "# nothing here\n", spec.RuleEmptyDocument, 1, 1, spec.SeverityWarning},
		{"null document", "~\n", spec.RuleSchema, 1, 1, spec.SeverityError},
		{"non-UTF-8", "apiVersion: tlreconcile/v1alpha1\nkind: Cl\xffuster\n", spec.RuleInvalidEncoding, 2, 9, spec.SeverityError},
		{"NUL byte", "apiVersion: tlreconcile/v1alpha1\nkind: \x00\n", spec.RuleInvalidEncoding, 2, 7, spec.SeverityError},
		{"UTF-16", "\xff\xfea\x00:\x00", spec.RuleInvalidEncoding, 1, 1, spec.SeverityError},
		{"alias bomb", bomb, spec.RuleYAMLAliasExpansion, 0, 0, spec.SeverityError},
		{"10000-deep flow nesting", deepFlow, spec.RuleYAMLTooDeep, 6, 0, spec.SeverityError},
		{"deep block nesting", deepBlock.String(), spec.RuleYAMLTooDeep, 0, 0, spec.SeverityError},
		{"10000-deep block sequences", clusterYAML + "  options:\n    x:\n      " + strings.Repeat("- ", 10000) + "z\n", spec.RuleYAMLTooDeep, 0, 0, spec.SeverityError},
		{"self-referencing alias", clusterYAML + "  options: &a {x: *a}\n", spec.RuleYAMLTooDeep, 0, 0, spec.SeverityError},
		{"unknown anchor", clusterYAML + "  options: *nope\n", spec.RuleYAMLSyntax, 0, 0, spec.SeverityError},
		{"complex key", clusterYAML + "  options: {[a, b]: c}\n", spec.RuleYAMLSyntax, 6, 13, spec.SeverityError},
		{"bad merge", clusterYAML + "  options: {<<: [1, 2]}\n", spec.RuleYAMLSyntax, 0, 0, spec.SeverityError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"in.yaml": tc.content})
			_, ds := load(t, dir)
			d := wantDiag(t, dir, ds, tc.rule, "in.yaml", 0, 0)
			if tc.line > 0 && d.Line != tc.line {
				t.Errorf("line = %d, want %d: %s", d.Line, tc.line, d.Error())
			}
			if tc.col > 0 && d.Column != tc.col {
				t.Errorf("column = %d, want %d: %s", d.Column, tc.col, d.Error())
			}
			if d.Severity != tc.sev {
				t.Errorf("severity = %s, want %s", d.Severity, tc.sev)
			}
			if !strings.Contains(d.Message, ";") || d.Message != strings.TrimSpace(d.Message) {
				t.Errorf("message %q should say what is wrong, then what to do", d.Message)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"c.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {nodes: [n1]}\n",
		"v.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1}\nspec:\n  image: " + goodImage + "\n",
	})
	d, ds := load(t, dir)
	if ds.HasErrors() || len(ds) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", render(dir, ds))
	}
	wantC := spec.Cluster{Name: "c1", Driver: "sim", Nodes: []string{"n1"}, IgvmAgent: "required", VMFileAccess: "hostAdminsOnly",
		LiveMigration: spec.LiveMigration{Encryption: "ipsec"}}
	c := d.Cluster("c1")
	if c == nil {
		t.Fatal("cluster c1 missing")
	}
	c.Pos = spec.Pos{}
	if !equalJSON(t, *c, wantC) {
		t.Errorf("cluster = %+v, want %+v", *c, wantC)
	}
	wantV := spec.VM{Name: "v1", Cluster: "c1", SecurityType: "TrustedLaunch",
		Image:      spec.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"},
		Processors: 2, MemoryMB: 4096, SecureBoot: spec.SecureBoot{Enabled: true, Template: "MicrosoftWindows"},
		VTPM: spec.VTPM{Enabled: true}, VBS: true, EncryptStateAndMigrationTraffic: true, Power: "Running"}
	if len(d.VMs) != 1 {
		t.Fatalf("VMs = %d, want 1", len(d.VMs))
	}
	got := d.VMs[0]
	if got.Pos.Line != 1 || got.Pos.Column != 1 || got.Pos.File == "" {
		t.Errorf("VM position = %+v, want line 1 column 1 (the document's first key)", got.Pos)
	}
	got.Pos = spec.Pos{}
	if !equalJSON(t, got, wantV) {
		t.Errorf("vm = %+v, want %+v", got, wantV)
	}
	if n := len(d.Catalog); n != 4 || !d.Catalog[0].BuiltIn {
		t.Errorf("catalog = %d entries (first built-in %v), want the 4 built-in images", n, n > 0 && d.Catalog[0].BuiltIn)
	}
	if len(d.Files) != 2 {
		t.Errorf("files = %v, want 2", d.Files)
	}
}

func TestLoadMissingClusterWithTwoClusters(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"c.yaml": clusterYAML + "---\napiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c2}\nspec: {nodes: [n1]}\n",
		"v.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1}\nspec:\n  image: " + goodImage + "\n",
	})
	_, ds := load(t, dir)
	d := wantDiag(t, dir, ds, spec.RuleMissingCluster, "v.yaml", 3, 11)
	if !strings.Contains(d.Message, "c1, c2") {
		t.Errorf("message should list the clusters: %s", d.Message)
	}
}

func TestLoadUserCatalog(t *testing.T) {
	custom := "{publisher: contoso, offer: ubuntu, sku: jammy, version: 1.0.0}"
	dir := writeTree(t, map[string]string{
		"c.yaml":   clusterYAML,
		"img.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: ImageCatalog\nmetadata: {name: extra}\nspec:\n  images:\n    - {publisher: contoso, offer: ubuntu, sku: jammy, version: 1.0.0, os: linux}\n",
		"v.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1}\nspec:\n  image: " + custom +
			"\n  secureBoot: {template: MicrosoftUEFICertificateAuthority}\n---\n" +
			"apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v2}\nspec:\n  image: " + custom + "\n",
	})
	d, ds := load(t, dir)
	// v2 keeps the default MicrosoftWindows template, which does not boot Linux.
	wantDiag(t, dir, ds, spec.RuleTemplateMismatch, "v.yaml", 0, 0)
	if n := len(ds); n != 1 {
		t.Errorf("want exactly one diagnostic, got:\n%s", render(dir, ds))
	}
	img, ok := d.CatalogImage(spec.Image{Publisher: "Contoso", Offer: "ubuntu", Sku: "jammy", Version: "1.0.0"})
	if !ok || img.BuiltIn || img.OS != "linux" {
		t.Errorf("CatalogImage = %+v, %v; want the user's linux image, not built in", img, ok)
	}
}

func TestDiagnosticsErr(t *testing.T) {
	warn := spec.Diagnostic{Severity: spec.SeverityWarning, Rule: "w", File: "f", Line: 1, Column: 2, Message: "m"}
	errD := spec.Diagnostic{Severity: spec.SeverityError, Rule: "e", File: "f", Line: 3, Column: 4, Message: "bad; fix it"}
	if err := (spec.Diagnostics{warn}).Err(); err != nil {
		t.Errorf("warnings only: Err = %v, want nil", err)
	}
	err := spec.Diagnostics{warn, errD}.Err()
	if err == nil || !errors.Is(err, spec.ErrInvalid) {
		t.Fatalf("Err = %v, want one wrapping ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), "f:3:4: error[e]: bad; fix it") || strings.Contains(err.Error(), "[w]") {
		t.Errorf("Err text = %q, want the error listed and the warning left out", err)
	}
	if ds := (spec.Diagnostics{warn}).WithWarningsAsErrors(); !ds.HasErrors() {
		t.Error("WithWarningsAsErrors kept a warning")
	}
}
