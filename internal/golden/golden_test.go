package golden_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/golden"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name, got, want, diff string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"changed line", "a\nx\n", "a\nb\n", "first difference at line 2:\n  got:  \"x\\n\"\n  want: \"b\\n\""},
		{"got longer", "a\nb\nc\n", "a\nb\n", "first difference at line 3:\n  got:  \"c\\n\"\n  want: \"\""},
		{"missing final newline", "a", "a\n", "first difference at line 1:\n  got:  \"a\"\n  want: \"a\\n\""},
		{"control characters shown", "\x1b[31m-\x1b[0m\n", "-\n", "first difference at line 1:\n  got:  \"\\x1b[31m-\\x1b[0m\\n\"\n  want: \"-\\n\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := golden.Diff([]byte(tt.got), []byte(tt.want)); got != tt.diff {
				t.Errorf("Diff = %q, want %q", got, tt.diff)
			}
		})
	}
}

// recorder is a testing.TB that keeps failures instead of failing the test,
// so Check's failure path can be asserted.
type recorder struct {
	testing.TB
	failed bool
	msgs   []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, format)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.msgs = append(r.msgs, "fatal")
}

func TestCheck(t *testing.T) {
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		t.Skip("-update rewrites instead of comparing")
	}
	path := filepath.Join(t.TempDir(), "out.golden")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, path, []byte("same\n"))

	r := &recorder{TB: t}
	golden.Check(r, path, []byte("other\n"))
	if !r.failed {
		t.Error("Check accepted output that differs from the golden file")
	}

	r = &recorder{TB: t}
	golden.Check(r, filepath.Join(t.TempDir(), "absent.golden"), []byte("x"))
	if !r.failed || !strings.Contains(strings.Join(r.msgs, " "), "fatal") {
		t.Errorf("Check of a missing golden file: failed=%v msgs=%v, want a fatal failure", r.failed, r.msgs)
	}
}
