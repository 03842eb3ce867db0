package hyperv_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

// psparse returns the command that runs the tree-sitter PowerShell parse check. Without node
// or the npm packages the test is skipped, except in CI (CI set), where it fails.
func psparse(t *testing.T) (node, checker string) {
	t.Helper()
	dir, err := filepath.Abs("psparse")
	if err != nil {
		t.Fatal(err)
	}
	missing := func(what string) {
		t.Helper()
		msg := what + ": install it with `make deps` (or: cd internal/drivers/hyperv/psparse && npm ci)"
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and the PowerShell parse check cannot run: %s", msg)
		}
		t.Skip(msg)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	for _, pkg := range []string{"web-tree-sitter", "tree-sitter-powershell"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
			missing("npm package " + pkg + " is not installed")
		}
	}
	return node, filepath.Join(dir, "check.cjs")
}

func TestScriptsParseWithPowerShellGrammar(t *testing.T) {
	node, checker := psparse(t)
	files, err := filepath.Glob("scripts/*.ps1")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts found: %v", err)
	}
	// The bootstrap stub every host loop is started by lives with the protocol in psnode.
	shared, err := filepath.Glob("../psnode/scripts/*.ps1")
	if err != nil || len(shared) == 0 {
		t.Fatalf("no psnode scripts found: %v", err)
	}
	files = append(files, shared...)
	out, err := exec.Command(node, append([]string{checker}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("parse check failed: %v\n%s", err, out)
	}
	for _, f := range files {
		if !bytes.Contains(out, []byte(f+": ok")) {
			t.Errorf("%s: not reported ok:\n%s", f, out)
		}
	}

	t.Run("a broken script is rejected", func(t *testing.T) {
		out, err := exec.Command(node, checker, "testdata/psparse/broken.ps1").CombinedOutput()
		var ee *exec.ExitError
		if err == nil || !asExit(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("parse check of a broken script: err %v, want exit status 1\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("ERROR")) && !bytes.Contains(out, []byte("MISSING")) {
			t.Errorf("parse check output names no ERROR or MISSING node:\n%s", out)
		}
	})
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// TestScriptsShape pins the rules every script follows: it stops on the first error, reads
// its parameters only from the base64 argument, and every op has its script.
func TestScriptsShape(t *testing.T) {
	const decode = "$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json"
	for _, name := range hyperv.Scripts().Names() {
		t.Run(name, func(t *testing.T) {
			text, _ := hyperv.Scripts().Text(name)
			if !strings.HasPrefix(string(text), "$ErrorActionPreference = 'Stop'\n") {
				t.Errorf("does not start with $ErrorActionPreference = 'Stop'")
			}
			if !strings.Contains(string(text), decode) {
				t.Errorf("does not decode its parameters with %q", decode)
			}
			if bytes.Contains(text, []byte("Invoke-Expression")) || bytes.Contains(text, []byte("iex ")) {
				t.Errorf("evaluates strings as code")
			}
		})
	}
	for _, k := range drivers.ClassicHyperV().Ops {
		if _, ok := hyperv.Scripts().Text(string(k)); !ok {
			t.Errorf("op %s has no script", k)
		}
	}
	if host := string(hyperv.Scripts().Host()); !strings.HasPrefix(host, "$ErrorActionPreference = 'Stop'\n") {
		t.Errorf("host.ps1 does not start with $ErrorActionPreference = 'Stop'")
	}
}
