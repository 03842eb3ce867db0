package spec_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/schema"
)

// Every `default` the schema documents is what Load applies (the YAML field
// names are the JSON names of the spec types).
func TestSchemaDefaultsMatchLoader(t *testing.T) {
	var s struct {
		Defs map[string]struct {
			Properties struct {
				Spec map[string]any `json:"spec"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema.JSON(), &s); err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{"all.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {nodes: [n1]}\n---\n" +
		"apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1}\nspec:\n  image: " + goodImage + "\n"})
	d, ds := load(t, dir)
	if len(ds) != 0 {
		t.Fatalf("unexpected:\n%s", render(dir, ds))
	}
	asMap := func(v any) map[string]any {
		b, _ := json.Marshal(v)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	loaded := map[string]map[string]any{"Cluster": asMap(d.Clusters[0]), "TrustedLaunchVM": asMap(d.VMs[0])}
	checked := 0
	for kind, got := range loaded {
		var walk func(prefix string, props map[string]any, got map[string]any)
		walk = func(prefix string, props map[string]any, got map[string]any) {
			for name, p := range props {
				pm, _ := p.(map[string]any)
				if def, ok := pm["default"]; ok {
					checked++
					if fmt.Sprint(got[name]) != fmt.Sprint(def) {
						t.Errorf("%s %s%s: schema default %v, Load applies %v", kind, prefix, name, def, got[name])
					}
				}
				if sub, ok := pm["properties"].(map[string]any); ok {
					g, _ := got[name].(map[string]any)
					walk(prefix+name+".", sub, g)
				}
			}
		}
		props, _ := s.Defs[kind].Properties.Spec["properties"].(map[string]any)
		walk("spec.", props, got)
	}
	if checked < 14 {
		t.Errorf("checked %d defaults; the schema should document all 14", checked)
	}
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "vm.yaml"), []byte(`apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: hci-west}
spec: {nodes: [node1]}
---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: avd-01}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  bootIntegrityVerification: true
`), 0o644)
	d, diags := spec.Load(spec.LoadOptions{Paths: []string{dir}})
	for _, x := range diags {
		fmt.Printf("%d:%d %s\n", x.Line, x.Column, x.Rule)
	}
	vm := d.VMs[0]
	fmt.Println(vm.Cluster, vm.SecureBoot.Template, vm.VTPM.Enabled, vm.Processors, vm.MemoryMB)
	// Output:
	// 11:30 boot-integrity-not-available
	// hci-west MicrosoftWindows true 2 4096
}

// TestAttestationDefaults: an attestation block applies its defaults inside
// it (enabled, a 24h interval, Secure Boot required); no block, no
// attestation (and no change to the VM's hash).
func TestAttestationDefaults(t *testing.T) {
	vm := func(extra string) *spec.VM {
		t.Helper()
		dir := writeTree(t, map[string]string{"a.yaml": "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {nodes: [n1]}\n---\n" +
			"apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1, cluster: c1}\nspec:\n  image: " + goodImage + "\n" + extra})
		d, ds := load(t, dir)
		if len(ds) != 0 {
			t.Fatalf("unexpected:\n%s", render(dir, ds))
		}
		return &d.VMs[0]
	}
	if a := vm("").Attestation; a != nil {
		t.Fatalf("no block: %+v", a)
	}
	a := vm("  attestation: {}\n").Attestation
	if a == nil || !a.Enabled || a.Interval != "24h" || a.Require.SecureBoot == nil || !*a.Require.SecureBoot || a.Require.VBS != "" || a.Require.TestSigning != nil {
		t.Fatalf("empty block: %+v", a)
	}
	a = vm("  attestation: {enabled: false, interval: 30m, require: {secureBoot: false, vbs: running, testSigning: false}}\n").Attestation
	if a.Enabled || a.Interval != "30m" || *a.Require.SecureBoot || a.Require.VBS != "running" || a.Require.TestSigning == nil || *a.Require.TestSigning {
		t.Fatalf("declared: %+v", a)
	}
}

// TestAcceptBootDigests: spec.attestation.acceptBoot takes boot digests (12 hex); anything
// else is an error at its line that says what a digest is.
func TestAcceptBootDigests(t *testing.T) {
	doc := func(list string) string {
		return "apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: c1}\nspec: {nodes: [n1]}\n---\n" +
			"apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: v1, cluster: c1}\nspec:\n  image: " + goodImage + "\n  attestation:\n    acceptBoot: " + list + "\n"
	}
	dir := writeTree(t, map[string]string{"a.yaml": doc("[61e79ca0acd7, 0123456789ab]")})
	d, ds := load(t, dir)
	if len(ds) != 0 || strings.Join(d.VMs[0].Attestation.AcceptBoot, ",") != "61e79ca0acd7,0123456789ab" {
		t.Fatalf("%v\n%s", d.VMs[0].Attestation, render(dir, ds))
	}
	dir = writeTree(t, map[string]string{"a.yaml": doc("[61E79CA0ACD7]")})
	_, ds = load(t, dir)
	if len(ds) != 1 || ds[0].Line != 12 || !strings.Contains(ds[0].Message, "is not a boot digest; write the 12 hex digits") {
		t.Fatalf("an upper-case digest:\n%s", render(dir, ds))
	}
}
