package archtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rule says what the packages matching from must not import. Patterns are
// module-relative import paths; "x/..." matches x and everything below it.
type rule struct {
	from string
	deny []string
	why  string
}

// frontends are the layers above apply: nothing below them may import them.
var frontends = []string{"cmd/...", "internal/watch/..."}

// layering is DESIGN §2 as data: cmd → watch → apply → plan → drivers,
// spec → schema; view reads the types of apply, plan, drivers and spec and is
// imported by nothing below cmd. Every package of the module must match at
// least one from, so a new package has to be given its place here.
//
// Only non-test files are checked: an external test package may import
// upward (it cannot create a cycle), and shipped code is what the layering
// protects. Packages named here that do not exist yet (internal/sim,
// internal/attest, internal/drivers/azurelocal) are in DESIGN §2 and are
// locked before they land.
var layering = []rule{
	{from: "cmd/...", why: "cmd is the top: it wires every layer and nothing imports it"},
	{from: "internal/watch/...", deny: []string{"cmd/...", "internal/view/..."},
		why: "watch runs on apply's Session; the view is injected by cmd, chosen once from --format"},
	{from: "internal/view/...", deny: frontends,
		why: "view only reads types (apply, plan, drivers, spec); it never drives a command or a watch loop"},
	{from: "internal/apply/...", deny: aboveAnd("internal/view/..."),
		why: "apply executes plans; frontends and views sit above it"},
	{from: "internal/plan/...", deny: aboveAnd("internal/apply/...", "internal/view/..."),
		why: "the planner returns data: it never applies and never renders"},
	{from: "internal/drivers/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/..."),
		why: "drivers never import plan or apply: they execute one Op and report observations"},
	{from: "internal/drivers/hyperv/hypervfake/hvmodel/...", deny: []string{"internal/drivers/azurelocal/...", "internal/drivers/hyperv", "internal/drivers/hyperv/hypervfake"},
		why: "the classic Hyper-V model imports no driver implementation: it is the far end the hyperv driver's fake host serves"},
	{from: "internal/sim/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/...",
		"internal/drivers/azurelocal/...", "internal/drivers/hyperv/..."),
		why: "the simulated Azure Local imports neither drivers' implementations nor plan"},
	{from: "internal/spec/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/...", "internal/drivers/..."),
		why: "spec is desired state only; plan joins it with what drivers observe"},
	{from: "schema/...", deny: []string{"cmd/...", "internal/..."},
		why: "schema is the bottom: embedded files and their accessors"},
	{from: "internal/vtpm/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/...",
		"internal/drivers/...", "internal/sim/...", "internal/attest/...", "internal/spec/..."),
		why: "vtpm reads TPMs for sim and attest; it owns no policy and knows no driver"},
	{from: "internal/attest/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/..."),
		why: "attest collects and verifies; apply and the drivers call it, not the other way round"},
	{from: "internal/guestagent/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/...",
		"internal/drivers/...", "internal/sim/...", "internal/spec/..."),
		why: "the guest agent runs inside a guest: it knows the TPM and the attestation format, nothing of the host side"},
	{from: "internal/gctune/...", deny: []string{"cmd/...", "internal/...", "schema/..."},
		why: "gctune sets the runtime's collector for one command; a leaf that knows no other package"},
	{from: "internal/e2eboot/...", deny: aboveAnd("internal/apply/...", "internal/plan/...", "internal/view/...",
		"internal/drivers/...", "internal/sim/...", "internal/spec/..."),
		why: "the real boot builds the guest agent and verifies with attest; nothing imports it"},
	{from: "internal/golden/...", deny: []string{"cmd/...", "internal/...", "schema/..."},
		why: "the golden-file helper is a leaf every test can import"},
	{from: "internal/archtest/...", deny: []string{"cmd/...", "internal/...", "schema/..."},
		why: "archtest reads the source; it imports none of it"},
}

// testOnly packages may be imported from _test.go files only: golden
// registers the -update flag and imports testing.
var testOnly = []string{"internal/golden/...", "internal/archtest/..."}

// aboveAnd is frontends followed by more.
func aboveAnd(more ...string) []string {
	return append(slices.Clone(frontends), more...)
}

// match reports whether the module-relative path pkg matches pattern.
func match(pattern, pkg string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
	}
	return pkg == pattern
}

func matchAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, pkg) })
}

// edge is one import of a module package by a module package.
type edge struct {
	from, to string // module-relative
	pos      string // file:line of the import
	test     bool   // the importing file is a _test.go file
}

// checkLayering returns one message per broken rule, per package without a
// rule, and per non-test import of a test-only package, in input order.
func checkLayering(rules []rule, testOnly []string, pkgs []string, edges []edge) []string {
	var out []string
	for _, p := range pkgs {
		if !slices.ContainsFunc(rules, func(r rule) bool { return match(r.from, p) }) {
			out = append(out, fmt.Sprintf("%s: no layering rule: give the package its place in DESIGN §2 and in archtest's layering", p))
		}
	}
	for _, e := range edges {
		if e.test {
			continue
		}
		if matchAny(testOnly, e.to) {
			out = append(out, fmt.Sprintf("%s: %s imports %s, which only _test.go files may import", e.pos, e.from, e.to))
		}
		for _, r := range rules {
			if match(r.from, e.from) && matchAny(r.deny, e.to) {
				out = append(out, fmt.Sprintf("%s: %s imports %s upward: %s (DESIGN §2)", e.pos, e.from, e.to, r.why))
			}
		}
	}
	return out
}

// edges lists the module-internal imports of src, and its packages.
func (src *source) edges() (pkgs []string, edges []edge) {
	for _, f := range src.files {
		if !slices.Contains(pkgs, f.pkg) {
			pkgs = append(pkgs, f.pkg)
		}
		for _, spec := range f.ast.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				continue
			}
			rel, ok := strings.CutPrefix(path, src.module+"/")
			if !ok {
				continue
			}
			pos := src.fset.Position(spec.Pos())
			edges = append(edges, edge{from: f.pkg, to: rel, pos: fmt.Sprintf("%s:%d", pos.Filename, pos.Line), test: f.test})
		}
	}
	return pkgs, edges
}

// TestLayering locks the import graph of DESIGN §2.
func TestLayering(t *testing.T) {
	pkgs, edges := loadSource(t).edges()
	if len(edges) == 0 {
		t.Fatal("no module-internal imports found: the loader is broken")
	}
	for _, msg := range checkLayering(layering, testOnly, pkgs, edges) {
		t.Error(msg)
	}
}

// TestLayeringCatchesUpwardImports proves the checker can fail: every denied
// pattern of every rule, instantiated as a fake import, is reported, and the
// edges DESIGN §2 allows are not.
func TestLayeringCatchesUpwardImports(t *testing.T) {
	inst := func(pattern string) []string {
		if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
			return []string{prefix, prefix + "/fake"}
		}
		return []string{pattern}
	}
	for _, r := range layering {
		for _, from := range inst(r.from) {
			for _, deny := range r.deny {
				for _, to := range inst(deny) {
					if from == to {
						continue
					}
					got := checkLayering(layering, testOnly, []string{from}, []edge{{from: from, to: to, pos: "x.go:1"}})
					if len(got) == 0 {
						t.Errorf("fake upward import %s → %s was not reported (rule for %s)", from, to, r.from)
					}
				}
			}
		}
	}

	tests := []struct {
		name  string
		pkgs  []string
		edges []edge
		want  []string // substrings, one per expected message, in order
	}{
		{name: "allowed downward edges", pkgs: []string{"cmd/tlreconcile", "internal/view", "internal/plan", "internal/drivers/hyperv", "internal/drivers/hyperv/hypervfake/hvmodel", "internal/spec"},
			edges: []edge{
				{from: "cmd/tlreconcile", to: "internal/watch"}, {from: "cmd/tlreconcile", to: "internal/view"},
				{from: "internal/view", to: "internal/apply"}, {from: "internal/view", to: "internal/plan"},
				{from: "internal/plan", to: "internal/drivers"}, {from: "internal/plan", to: "internal/spec"},
				{from: "internal/drivers/hyperv", to: "internal/drivers"}, {from: "internal/drivers/hyperv/hypervfake/hvmodel", to: "internal/vtpm"},
				{from: "internal/spec", to: "schema"},
			}},
		{name: "plan imports apply", pkgs: []string{"internal/plan"},
			edges: []edge{{from: "internal/plan", to: "internal/apply", pos: "internal/plan/x.go:7"}},
			want:  []string{"internal/plan/x.go:7: internal/plan imports internal/apply upward"}},
		{name: "driver subpackage imports plan", pkgs: []string{"internal/drivers/hyperv"},
			edges: []edge{{from: "internal/drivers/hyperv", to: "internal/plan", pos: "p.go:3"}},
			want:  []string{"p.go:3: internal/drivers/hyperv imports internal/plan upward: drivers never import plan or apply"}},
		{name: "apply imports view", pkgs: []string{"internal/apply"},
			edges: []edge{{from: "internal/apply", to: "internal/view", pos: "a.go:1"}},
			want:  []string{"internal/apply imports internal/view upward"}},
		{name: "spec imports a driver", pkgs: []string{"internal/spec"},
			edges: []edge{{from: "internal/spec", to: "internal/drivers/azurelocal", pos: "s.go:1"}},
			want:  []string{"internal/spec imports internal/drivers/azurelocal upward"}},
		{name: "vtpm imports drivers", pkgs: []string{"internal/vtpm"},
			edges: []edge{{from: "internal/vtpm", to: "internal/drivers", pos: "v.go:1"}},
			want:  []string{"internal/vtpm imports internal/drivers upward"}},
		{name: "the Hyper-V model imports the driver", pkgs: []string{"internal/drivers/hyperv/hypervfake/hvmodel"},
			edges: []edge{{from: "internal/drivers/hyperv/hypervfake/hvmodel", to: "internal/drivers/hyperv", pos: "s.go:1"}},
			want:  []string{"internal/drivers/hyperv/hypervfake/hvmodel imports internal/drivers/hyperv upward: the classic Hyper-V model imports no driver implementation"}},
		{name: "test files may import upward", pkgs: []string{"internal/drivers"},
			edges: []edge{{from: "internal/drivers", to: "internal/plan", test: true}}},
		{name: "golden from shipped code", pkgs: []string{"internal/view"},
			edges: []edge{{from: "internal/view", to: "internal/golden", pos: "v.go:4"}, {from: "internal/view", to: "internal/golden", test: true}},
			want:  []string{"v.go:4: internal/view imports internal/golden, which only _test.go files may import"}},
		{name: "package without a rule", pkgs: []string{"internal/newthing"},
			want: []string{"internal/newthing: no layering rule"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkLayering(layering, testOnly, tt.pkgs, tt.edges)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("message %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
