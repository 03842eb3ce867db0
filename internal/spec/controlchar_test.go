package spec_test

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// A key with a control character, a quote or a backslash is named once
// escaped (Go quoting, as every other name in a message) and placed on its
// own line, not on the line of the mapping that holds it.
func TestUnknownFieldOddKeys(t *testing.T) {
	doc := clusterYAML +
		"  \"col\\aour\": red\n" + // line 6: a BEL in the key
		"  \"ta\\tb\": x\n" + // line 7: a tab
		"  \"it's\": x\n" + // line 8: a quote, which the schema library escapes as \'
		"  'back\\slash': x\n" // line 9
	cases := []struct {
		key, quoted string
		line        int
	}{
		{"col\aour", `"col\aour"`, 6},
		{"ta\tb", `"ta\tb"`, 7},
		{"it's", `"it's"`, 8},
		{`back\slash`, `"back\\slash"`, 9},
	}
	dir := writeTree(t, map[string]string{"in.yaml": doc})
	_, ds := load(t, dir)
	for _, tc := range cases {
		t.Run(tc.quoted, func(t *testing.T) {
			d := wantDiag(t, dir, ds, spec.RuleUnknownField, "in.yaml", tc.line, 3)
			want := "unknown field " + tc.quoted + " in spec; remove it or fix its spelling"
			if len(d.Message) < len(want) || d.Message[:len(want)] != want {
				t.Errorf("message = %q, want it to start %q", d.Message, want)
			}
			if d.Path != "/spec/"+tc.key {
				t.Errorf("path = %q, want %q", d.Path, "/spec/"+tc.key)
			}
		})
	}
	if n := len(ds); n != len(cases) {
		t.Errorf("%d diagnostics, want %d:\n%s", n, len(cases), render(dir, ds))
	}
}
