package schema_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"gopkg.in/yaml.v3"

	"github.com/tlreconcile/tlreconcile/schema"
)

func compile(t *testing.T, src []byte) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("mem://s.json", bytes.NewReader(src)); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	s, err := c.Compile("mem://s.json")
	if err != nil {
		t.Fatalf("does not compile: %v", err)
	}
	return s
}

func TestKinds(t *testing.T) {
	docs := map[string]any{
		"Cluster": map[string]any{"apiVersion": "tlreconcile/v1alpha1", "kind": "Cluster",
			"metadata": map[string]any{"name": "c"}, "spec": map[string]any{"nodes": []any{"n1"}}},
		"TrustedLaunchVM": map[string]any{"apiVersion": "tlreconcile/v1alpha1", "kind": "TrustedLaunchVM",
			"metadata": map[string]any{"name": "v"}, "spec": map[string]any{"image": map[string]any{"publisher": "p", "offer": "o", "sku": "s", "version": "1"}}},
		"ImageCatalog": map[string]any{"apiVersion": "tlreconcile/v1alpha1", "kind": "ImageCatalog",
			"metadata": map[string]any{"name": "i"}, "spec": map[string]any{"images": []any{map[string]any{"publisher": "p", "offer": "o", "sku": "s", "version": "1", "os": "linux"}}}},
	}
	combined := compile(t, schema.JSON())
	for _, kind := range schema.Kinds() {
		t.Run(kind, func(t *testing.T) {
			src, err := schema.Kind(kind)
			if err != nil {
				t.Fatal(err)
			}
			one := compile(t, src)
			for other, doc := range docs {
				if err := combined.Validate(doc); err != nil {
					t.Errorf("combined schema rejects a valid %s: %v", other, err)
				}
				err := one.Validate(doc)
				if (err == nil) != (other == kind) {
					t.Errorf("%s schema on a %s: err = %v", kind, other, err)
				}
			}
		})
	}
	if _, err := schema.Kind("Pod"); err == nil || !strings.Contains(err.Error(), "use one of") {
		t.Errorf("Kind(Pod) err = %v", err)
	}
}

// The built-in catalog is an ImageCatalog document with exactly DESIGN §1's four images.
func TestCatalog(t *testing.T) {
	var doc any
	if err := yaml.Unmarshal(schema.Catalog(), &doc); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	var generic any
	_ = json.Unmarshal(b, &generic)
	if err := compile(t, schema.JSON()).Validate(generic); err != nil {
		t.Fatalf("catalog does not match the schema: %v", err)
	}
	var cat struct {
		Spec struct {
			Images []struct{ Publisher, Offer, Sku, Version, OS string }
		}
	}
	if err := yaml.Unmarshal(schema.Catalog(), &cat); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range cat.Spec.Images {
		got = append(got, strings.Join([]string{i.Publisher, i.Offer, i.Sku, i.Version, i.OS}, "/"))
	}
	want := []string{
		"microsoftwindowsdesktop/windows-11/win11-22h2-avd/22621.2428.231001/windows",
		"microsoftwindowsdesktop/windows11preview/win11-22h2-avd-m365/22621.382.220810/windows",
		"microsoftwindowsdesktop/windows-11/win11-21h2-avd/22000.2538.231001/windows",
		"microsoftwindowsdesktop/office-365/win10-21h2-avd-m365-g2/19044.3570.231010/windows",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("catalog =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Callers get copies: changing one must not change the embedded schema.
func TestJSONIsACopy(t *testing.T) {
	a := schema.JSON()
	a[0] = 'X'
	if schema.JSON()[0] != '{' {
		t.Error("JSON() returned the embedded bytes themselves")
	}
}
