package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// checkAgreement fails when the kind's definition and the whole schema
// disagree on value: the loader trusts $defs/KIND alone for valid documents.
func checkAgreement(t *testing.T, v *validator, what string, value any) {
	t.Helper()
	fast, whole := v.valid(value), v.compiled.Validate(value) == nil
	if fast != whole {
		t.Fatalf("%s: kind definition says valid=%t, whole schema valid=%t", what, fast, whole)
	}
}

// mutations are value with one change each: every mapping key removed, set
// to other types, and an unknown key added; every list item removed.
func mutations(value any, yield func(any)) {
	switch v := value.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			orig := v[k]
			delete(v, k)
			yield(value)
			for _, repl := range []any{"x", int64(0), 1.5, true, nil, []any{}, map[string]any{}, "TrustedLaunchVM", "tlreconcile/v1alpha1"} {
				v[k] = repl
				yield(value)
			}
			v[k] = orig
			mutations(orig, yield)
		}
		v["zz-unknown"] = "x"
		yield(value)
		delete(v, "zz-unknown")
	case []any:
		for i := range v {
			mutations(v[i], yield)
		}
		if len(v) > 0 {
			yield(v[:len(v)-1])
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// For every document of the examples and the test data, and every one-change
// mutation of it, the kind's definition and the whole schema agree.
func TestKindSchemaAgreesWithWholeSchema(t *testing.T) {
	v, err := sharedValidator()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, glob := range []string{"../../examples/*/*.yaml", "../../examples/*/*/*.yaml", "testdata/*/*.yaml", "../../cmd/tlreconcile/testdata/*/*.yaml"} {
		m, _ := filepath.Glob(glob)
		paths = append(paths, m...)
	}
	paths = append(paths, "../../schema/catalog.yaml")
	docs, mutated := 0, 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var diags Diagnostics
		for _, doc := range parseFile(source{name: p, data: data}, &diags) {
			docs++
			checkAgreement(t, v, p, doc.value)
			mutations(doc.value, func(m any) {
				mutated++
				checkAgreement(t, v, p+" (mutated)", m)
			})
		}
	}
	if docs < 10 || mutated < 1000 {
		t.Fatalf("checked only %d documents and %d mutations; the globs find too little", docs, mutated)
	}
}

// FuzzKindSchema: for any YAML document, the kind's definition and the whole schema agree.
func FuzzKindSchema(f *testing.F) {
	files, _ := filepath.Glob("../../examples/*/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("apiVersion: tlreconcile/v1alpha1\nkind: TrustedLaunchVM\nmetadata: {name: a}\nspec: {image: {publisher: p, offer: o, sku: s, version: v}}\n"))
	v, err := sharedValidator()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var diags Diagnostics
		for _, doc := range parseFile(source{name: "fuzz.yaml", data: data}, &diags) {
			checkAgreement(t, v, "document", doc.value)
		}
	})
}
