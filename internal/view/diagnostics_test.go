package view_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

func sampleDiagnostics() spec.Diagnostics {
	return spec.Diagnostics{
		{Severity: spec.SeverityError, Rule: "unknown-node", File: "desired/vms.yaml", Line: 12, Column: 21, Path: "/spec/placement/node",
			Message: `node "n9" is not a node of cluster "c1" (nodes: n1, n2); use one of them, or add it to the cluster's spec.nodes`},
		{Severity: spec.SeverityWarning, Rule: "live-migration-unencrypted", File: "desired/cluster.yaml", Line: 8, Column: 31, Path: "/spec/liveMigration/encryption",
			Message: "live-migration traffic is not encrypted; set liveMigration.encryption: ipsec"},
		{Severity: spec.SeverityError, Rule: "symlink-outside-root", File: "desired/link,odd:name%.yaml",
			Message: "symlink leads outside the given paths\nand is refused; copy the file in"},
	}
}

func TestDiagnosticsGolden(t *testing.T) {
	cases := []struct {
		name, format string
		color        bool
		diags        spec.Diagnostics
	}{
		{"text", "text", false, sampleDiagnostics()},
		{"text-color", "text", true, sampleDiagnostics()},
		{"json", "json", false, sampleDiagnostics()},
		{"github", "github", false, sampleDiagnostics()},
		{"json-empty", "json", false, nil},
		{"text-empty", "text", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := view.Diagnostics(&buf, tc.format, tc.diags, tc.color); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "diagnostics-"+tc.name+".golden"), buf.Bytes())
		})
	}
}

func TestDiagnosticsJSONContract(t *testing.T) {
	for _, tc := range []struct {
		name      string
		diags     spec.Diagnostics
		wantValid bool
		wantLen   int
	}{
		{"none", nil, true, 0},
		{"warnings only", sampleDiagnostics()[1:2], true, 1},
		{"errors", sampleDiagnostics(), false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := view.Diagnostics(&buf, "json", tc.diags, true); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				FormatVersion string            `json:"format_version"`
				Valid         *bool             `json:"valid"`
				Diagnostics   []json.RawMessage `json:"diagnostics"`
			}
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, buf.String())
			}
			if doc.FormatVersion != "1" || doc.Valid == nil || *doc.Valid != tc.wantValid || doc.Diagnostics == nil || len(doc.Diagnostics) != tc.wantLen {
				t.Errorf("got %s", buf.String())
			}
			if strings.Contains(buf.String(), "\x1b[") {
				t.Error("colour codes in JSON")
			}
		})
	}
}

func TestDiagnosticsUnknownFormat(t *testing.T) {
	err := view.Diagnostics(&bytes.Buffer{}, "xml", nil, false)
	if err == nil || !strings.Contains(err.Error(), "use text, json or github") {
		t.Errorf("err = %v, want an error naming the formats", err)
	}
}

// GitHub workflow commands break on raw newlines, commas and colons in properties.
func TestDiagnosticsGitHubEscaping(t *testing.T) {
	var buf bytes.Buffer
	if err := view.Diagnostics(&buf, "github", sampleDiagnostics()[2:], false); err != nil {
		t.Fatal(err)
	}
	want := "::error file=desired/link%2Codd%3Aname%25.yaml,title=tlreconcile symlink-outside-root::symlink leads outside the given paths%0Aand is refused; copy the file in\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func ExampleDiagnostics() {
	diags := spec.Diagnostics{{Severity: spec.SeverityError, Rule: "boot-integrity-not-available", File: "vm.yaml", Line: 9, Column: 30,
		Message: "guest boot integrity verification is not available on Azure Local 23H2; remove bootIntegrityVerification or set it to false"}}
	_ = view.Diagnostics(os.Stdout, "text", diags, false)
	// Output:
	// vm.yaml:9:30: error[boot-integrity-not-available]: guest boot integrity verification is not available on Azure Local 23H2; remove bootIntegrityVerification or set it to false
	// 1 error, 0 warnings
}
