package spec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

const (
	goodImage   = "{publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}"
	clusterYAML = "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec:\n  nodes: [n1, n2]\n"
)

// vmYAML is a valid VM document; extra lines are appended under spec.
func vmYAML(name string, extra ...string) string {
	s := fmt.Sprintf("apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: %s, cluster: c1}\nspec:\n  image: %s\n", name, goodImage)
	for _, e := range extra {
		s += "  " + e + "\n"
	}
	return s
}

// writeTree creates files (relative path -> content) in a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// render prints diagnostics one per line with the directory prefix removed.
func render(dir string, ds spec.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(strings.ReplaceAll(d.Error(), dir+string(filepath.Separator), ""))
		b.WriteByte('\n')
	}
	return b.String()
}

// wantDiag asserts that ds has a diagnostic of rule at file:line:col (line 0: any).
func wantDiag(t *testing.T, dir string, ds spec.Diagnostics, rule, file string, line, col int) spec.Diagnostic {
	t.Helper()
	for _, d := range ds {
		if d.Rule != rule || filepath.Base(d.File) != file {
			continue
		}
		if line == 0 || (d.Line == line && d.Column == col) {
			return d
		}
	}
	t.Fatalf("want %s at %s:%d:%d, got:\n%s", rule, file, line, col, render(dir, ds))
	return spec.Diagnostic{}
}

func load(t *testing.T, paths ...string) (*spec.Desired, spec.Diagnostics) {
	t.Helper()
	return spec.Load(spec.LoadOptions{Paths: paths})
}
