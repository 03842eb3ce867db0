package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strings"
	"testing"
)

// The limits STYLE asks of every non-test function.
const (
	maxLines      = 80 // from the func keyword to the closing brace, both included
	maxComplexity = 25 // as gocyclo counts
)

// metric is the size of one function declaration.
type metric struct {
	lines, complexity int
}

// allowed would list functions over a limit with their numbers, each passing
// whatever its numbers are while a refactor splits it. It is empty: every
// non-test function is within 80 lines and cyclomatic complexity 25. Do not
// add to it: split the function instead.
var allowed = map[string]metric{}

// complexity is gocyclo's cyclomatic complexity of fn: 1, plus one per if,
// for, range, non-default case and comm clause, && and ||, counting the
// function literals inside fn as gocyclo does.
func complexity(fn *ast.FuncDecl) int {
	c := 1
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// funcName is gocyclo's name of fn: "F", "T.M" or "(*T).M".
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	star := false
	if s, ok := typ.(*ast.StarExpr); ok {
		star, typ = true, s.X
	}
	switch t := typ.(type) {
	case *ast.IndexExpr: // generic receiver T[P]
		typ = t.X
	case *ast.IndexListExpr:
		typ = t.X
	}
	name := "?"
	if id, ok := typ.(*ast.Ident); ok {
		name = id.Name
	}
	if star {
		return "(*" + name + ")." + fn.Name.Name
	}
	return name + "." + fn.Name.Name
}

// measured is one function with where it starts.
type measured struct {
	key string // "pkg.name", the allow-list key
	pos string // file:line
	metric
}

// measure returns every function declaration with a body in the non-test
// files of src, sorted by position.
func (src *source) measure() []measured {
	var out []measured
	for _, f := range src.files {
		if f.test {
			continue
		}
		for _, d := range f.ast.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := src.fset.Position(fn.Pos()), src.fset.Position(fn.End())
			out = append(out, measured{
				key:    f.pkg + "." + funcName(fn),
				pos:    fmt.Sprintf("%s:%d", start.Filename, start.Line),
				metric: metric{lines: end.Line - start.Line + 1, complexity: complexity(fn)},
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos < out[j].pos })
	return out
}

// checkSizes returns one failure per function over a limit that the
// allow-list does not name, and notes for the lead: allow-listed functions
// that grew past their recorded numbers (not a failure, so the refactors in
// flight merge without editing this file) and entries that no longer offend.
func checkSizes(fns []measured, allowed map[string]metric) (fail, notes []string) {
	offending := map[string]bool{}
	for _, m := range fns {
		var why []string
		if m.lines > maxLines {
			why = append(why, fmt.Sprintf("%d lines (limit %d)", m.lines, maxLines))
		}
		if m.complexity > maxComplexity {
			why = append(why, fmt.Sprintf("cyclomatic complexity %d (limit %d)", m.complexity, maxComplexity))
		}
		if len(why) == 0 {
			continue
		}
		offending[m.key] = true
		msg := fmt.Sprintf("%s: %s: %s", m.pos, m.key, strings.Join(why, ", "))
		a, ok := allowed[m.key]
		switch {
		case !ok:
			fail = append(fail, msg+"; split it by concept")
		case m.lines > a.lines || m.complexity > a.complexity:
			notes = append(notes, fmt.Sprintf("%s; grew since it was allow-listed at %d lines, complexity %d", msg, a.lines, a.complexity))
		}
	}
	var stale []string
	for k := range allowed {
		if !offending[k] {
			stale = append(stale, fmt.Sprintf("allow-list entry %s is within the limits now (or gone): delete it", k))
		}
	}
	sort.Strings(stale)
	return fail, append(notes, stale...)
}

// TestFunctionSize keeps every non-test function within maxLines and
// maxComplexity, apart from the allow-list.
func TestFunctionSize(t *testing.T) {
	fail, notes := checkSizes(loadSource(t).measure(), allowed)
	for _, msg := range fail {
		t.Error(msg)
	}
	for _, msg := range notes {
		t.Log(msg)
	}
}

// TestFunctionSizeChecker runs the measurements and the checker on small
// sources, so the limits are known to bite.
func TestFunctionSizeChecker(t *testing.T) {
	long := "func Long() {\n" + strings.Repeat("\t_ = 0\n", maxLines-2) + "}\n"
	longer := "func Longer() {\n" + strings.Repeat("\t_ = 0\n", maxLines-1) + "}\n"
	branchy := func(name string, ifs int) string {
		return "func " + name + "(a bool) {\n" + strings.Repeat("\tif a {\n\t}\n", ifs) + "}\n"
	}
	tests := []struct {
		name    string
		src     string
		allowed map[string]metric
		want    []string // substrings, one per failure
		notes   []string // substrings, one per note
	}{
		{name: "exactly the line limit", src: long},
		{name: "one line over", src: longer, want: []string{"x.go:3: p.Longer: 81 lines (limit 80)"}},
		{name: "exactly the complexity limit", src: branchy("F", maxComplexity-1)},
		{name: "one branch over", src: branchy("F", maxComplexity), want: []string{"p.F: cyclomatic complexity 26 (limit 25)"}},
		{name: "allow-listed at its numbers", src: branchy("F", maxComplexity), allowed: map[string]metric{"p.F": {lines: 80, complexity: 26}}},
		{name: "allow-listed and grew: a note, not a failure", src: branchy("F", maxComplexity+1), allowed: map[string]metric{"p.F": {lines: 80, complexity: 26}},
			notes: []string{"x.go:3: p.F: cyclomatic complexity 27 (limit 25); grew since it was allow-listed at 80 lines, complexity 26"}},
		{name: "allow-listing one function covers no other", src: branchy("F", maxComplexity) + longer, allowed: map[string]metric{"p.F": {lines: 80, complexity: 26}},
			want: []string{"p.Longer: 81 lines"}},
		{name: "stale entry", src: long, allowed: map[string]metric{"p.Gone": {lines: 90, complexity: 30}}, notes: []string{"allow-list entry p.Gone is within the limits now"}},
		{name: "methods are named like gocyclo", src: "type T struct{}\n\n" + branchy("(t *T) M", maxComplexity) + branchy("(t T) V", maxComplexity),
			want: []string{"p.(*T).M: cyclomatic complexity 26", "p.T.V: cyclomatic complexity 26"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns := measureString(t, tt.src)
			fail, notes := checkSizes(fns, tt.allowed)
			contains(t, "failure", fail, tt.want)
			contains(t, "note", notes, tt.notes)
		})
	}
}

// contains checks that got has one entry per want, each containing it.
func contains(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d %ss, want %d:\n%s", len(got), what, len(want), strings.Join(got, "\n"))
	}
	for i := range got {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s %d = %q, want it to contain %q", what, i, got[i], want[i])
		}
	}
}

// TestComplexityCountsLikeGocyclo pins each construct gocyclo counts.
func TestComplexityCountsLikeGocyclo(t *testing.T) {
	tests := []struct {
		name, body string
		want       int
	}{
		{"straight line", "x := 1\n_ = x", 1},
		{"if else", "if a {\n} else if b {\n} else {\n}", 3},
		{"for and range", "for a {\n}\nfor range xs {\n}", 3},
		{"switch cases, default free", "switch {\ncase a:\ncase b, a:\ndefault:\n}", 3},
		{"type switch", "switch any(a).(type) {\ncase int:\ncase string:\ndefault:\n}", 3},
		{"select comm clauses, default free", "select {\ncase <-ch:\ncase ch <- 1:\ndefault:\n}", 3},
		{"boolean operators", "_ = a && b || !a && b", 4},
		{"function literals count", "f := func() {\n\tif a {\n\t}\n}\nf()", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "func F(a, b bool, xs []int, ch chan int) {\n" + tt.body + "\n}\n"
			fns := measureString(t, src)
			if len(fns) != 1 || fns[0].complexity != tt.want {
				t.Errorf("complexity = %+v, want %d", fns, tt.want)
			}
		})
	}
}

// measureString measures the functions of one source file of package p,
// named x.go, whose text starts at line 3 after the package clause.
func measureString(t *testing.T, body string) []measured {
	t.Helper()
	src := &source{module: "m", fset: token.NewFileSet()}
	f, err := parser.ParseFile(src.fset, "x.go", "package p\n\n"+body, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	src.files = []sourceFile{{pkg: "p", path: "x.go", ast: f}}
	return src.measure()
}
