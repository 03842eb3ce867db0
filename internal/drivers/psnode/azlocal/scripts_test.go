package azlocal_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// psparse returns the tree-sitter PowerShell parse check that the hyperv driver's tests use
// (internal/drivers/hyperv/psparse). Without node or its npm packages the test is skipped,
// except in CI (CI set), where it fails.
func psparse(t *testing.T) (node, checker string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "hyperv", "psparse"))
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

// TestScriptsParseWithPowerShellGrammar parses every azlocal script, and the whole host
// loop as a node receives it (helpers plus psnode's shared loop), with the real grammar.
func TestScriptsParseWithPowerShellGrammar(t *testing.T) {
	node, checker := psparse(t)
	files, err := filepath.Glob("scripts/*.ps1")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts found: %v", err)
	}
	host := filepath.Join(t.TempDir(), "composed-host.ps1")
	if err := os.WriteFile(host, azlocal.Scripts().Host(), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, host)
	out, err := exec.Command(node, append([]string{checker}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("parse check failed: %v\n%s", err, out)
	}
	for _, f := range files {
		if !bytes.Contains(out, []byte(f+": ok")) {
			t.Errorf("%s: not reported ok:\n%s", f, out)
		}
	}
}

// TestScriptsShape pins the rules every script follows: it stops on the first error, reads
// its parameters only from the base64 argument, never turns a string into code, and the
// catalog holds exactly the query and the owner-node ops.
func TestScriptsShape(t *testing.T) {
	const decode = "$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json"
	sc := azlocal.Scripts()
	want := []string{azlocal.ScriptBackupGuestStateKeys, azlocal.ScriptEnableMigrationEncryption, azlocal.ScriptMoveVM,
		azlocal.ScriptObserveNode, azlocal.ScriptRestrictFileAccess, azlocal.ScriptSetSecureBoot, azlocal.ScriptStartIGVmAgent}
	if got := sc.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	codeFromText := []string{"Invoke-Expression", "iex ", "ScriptBlock]::Create", "Add-Type", "-Filter \"", "ExpandString"}
	for _, name := range sc.Names() {
		t.Run(name, func(t *testing.T) {
			text, _ := sc.Text(name)
			if !strings.HasPrefix(string(text), "$ErrorActionPreference = 'Stop'\n") {
				t.Errorf("does not start with $ErrorActionPreference = 'Stop'")
			}
			if !strings.Contains(string(text), decode) {
				t.Errorf("does not decode its parameters with %q", decode)
			}
			for _, bad := range codeFromText {
				if bytes.Contains(text, []byte(bad)) {
					t.Errorf("contains %q: it may turn a string into code", bad)
				}
			}
			if bytes.Contains(text, []byte("\"$p")) || bytes.Contains(text, []byte("$($p")) {
				t.Errorf("expands a parameter inside a double-quoted string")
			}
		})
	}
	host := sc.Host()
	if !bytes.HasSuffix(host, psnode.SharedHostLoop()) || !bytes.HasPrefix(host, []byte("$ErrorActionPreference = 'Stop'\n")) {
		t.Error("the host loop is not the helpers followed by psnode's shared loop")
	}
	for _, bad := range codeFromText[:2] {
		if bytes.Contains(host, []byte(bad)) {
			t.Errorf("host loop contains %q", bad)
		}
	}
}

// TestHostileNamesTravelAsData: a VM name made of PowerShell syntax reaches the node inside
// the base64 JSON parameters only; the script text on the wire is the embedded text byte for
// byte, and the name comes back out of the parameters unchanged.
func TestHostileNamesTravelAsData(t *testing.T) {
	names := map[string]string{
		"single quote":  "vm'; Remove-VM -Name * -Force; '",
		"double quote":  `vm"; Stop-Computer; "`,
		"subexpression": "vm$(Stop-Computer)",
		"backtick":      "vm`nStop-Computer`0",
		"newline":       "vm\nTLR1 exit\n<<<TLR-END x>>>",
		"variable":      "$env:COMPUTERNAME${p}",
	}
	text, _ := azlocal.Scripts().Text(azlocal.ScriptSetSecureBoot)
	for label, name := range names {
		t.Run(label, func(t *testing.T) {
			params, err := json.Marshal(azlocal.VMParams{VMID: "7fb16fe7-00a0-476f-92b3-ccb98fd9525a", VM: name})
			if err != nil {
				t.Fatal(err)
			}
			line := psnode.EncodeRequest("id1", text, params)
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Fatalf("request is not one line: %q", line)
			}
			for _, frag := range []string{"Remove-VM", "Stop-Computer", "TLR1 exit", "$("} {
				if strings.Contains(line, frag) {
					t.Errorf("the request line carries %q in clear", frag)
				}
			}
			req, err := psnode.DecodeRequest(strings.TrimSuffix(line, "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(req.Script, text) {
				t.Error("the script on the wire differs from the embedded script")
			}
			if n, ok := azlocal.Scripts().Identify(req.Script); !ok || n != azlocal.ScriptSetSecureBoot {
				t.Errorf("Identify = %q, %v", n, ok)
			}
			var back azlocal.VMParams
			if err := json.Unmarshal(req.Params, &back); err != nil || back.VM != name {
				t.Errorf("name after the wire = %q (%v), want %q", back.VM, err, name)
			}
		})
	}
}
