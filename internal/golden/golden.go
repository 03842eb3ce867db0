package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// update is the repository's one -update flag. It is read only by Check, so
// every package's golden files are refreshed by the same switch.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the output the tests produce")

// Check fails t when got differs from the content of the file at path
// (relative to the test's working directory). With -update it writes got to
// path instead, creating parent directories, and does not fail: the diff is
// then reviewed in version control. A missing file fails with the command
// that creates it.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if want, err := os.ReadFile(path); err == nil && bytes.Equal(want, got) {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("golden: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("golden: %v", err)
		}
		t.Logf("golden: wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden: %v (create it with go test -run '%s' -update, or make golden)", err, runPattern(t))
	}
	if msg := Diff(got, want); msg != "" {
		t.Errorf("golden: output differs from %s (go test -run '%s' -update, or make golden, rewrites it):\n%s\ngot:\n%s", path, runPattern(t), msg, got)
	}
}

// Diff describes the first line where got and want differ, quoted so that
// control characters (colour, carriage returns) are visible, or returns ""
// when they are equal.
func Diff(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	g, w := strings.SplitAfter(string(got), "\n"), strings.SplitAfter(string(want), "\n")
	for i := 0; ; i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "first difference at line " + strconv.Itoa(i+1) + ":\n  got:  " + quote(gl, i < len(g)) + "\n  want: " + quote(wl, i < len(w))
		}
	}
}

func quote(line string, present bool) string {
	if !present {
		return "(end of file)"
	}
	return strconv.Quote(line)
}

// runPattern is a -run pattern that selects exactly the current test.
func runPattern(t testing.TB) string {
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
