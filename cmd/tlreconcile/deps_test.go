package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pathWithoutNode returns a PATH of one folder holding links to the tools the
// install script and make use, and no node or npm: a fresh machine.
func pathWithoutNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range []string{"bash", "make", "ls", "id", "touch", "cat", "env", "sh", "dirname", "go"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			if tool == "bash" {
				t.Skip("bash is not on PATH")
			}
			continue
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runWithPath runs name args in the repository root with PATH set to path and
// returns the combined output.
func runWithPath(t *testing.T, path, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(path, name), args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "PATH="+path, "CI=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDepsWithoutNode: the dependency logic of `make demo` and `make test` on
// a machine without node. The demo needs no node; the tests get nodejs and npm
// from apt (dry run: nothing is installed).
func TestDepsWithoutNode(t *testing.T) {
	path := pathWithoutNode(t)
	cases := []struct {
		name        string
		cmd         []string
		wantNode    bool
		wantPackage []string
	}{
		{name: "script demo", cmd: []string{"bash", "scripts/install-deps.sh", "--dry-run", "demo"}},
		{name: "script test", cmd: []string{"bash", "scripts/install-deps.sh", "--dry-run", "test"}, wantNode: true,
			wantPackage: []string{"the PowerShell grammar", "yaml-language-server"}},
		{name: "make build-deps (make demo)", cmd: []string{"make", "-s", "build-deps", "DEPS_FLAGS=--dry-run"}},
		{name: "make deps (make test)", cmd: []string{"make", "-s", "deps", "DEPS_FLAGS=--dry-run"}, wantNode: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(path, tc.cmd[0])); err != nil {
				t.Skipf("%s is not on PATH", tc.cmd[0])
			}
			out, err := runWithPath(t, path, tc.cmd[0], tc.cmd[1:]...)
			if err != nil {
				t.Fatalf("%v without node: %v\n%s", tc.cmd, err, out)
			}
			var aptLine string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasSuffix(l, "with apt-get") {
					aptLine = l
				}
			}
			apt := strings.Fields(aptLine)
			hasNode := containsAll(apt, "nodejs", "npm")
			if hasNode != tc.wantNode {
				t.Errorf("installs nodejs and npm through apt: %v, want %v\n%s", hasNode, tc.wantNode, out)
			}
			if !tc.wantNode && strings.Contains(out, "node") {
				t.Errorf("the demo's dependencies mention node:\n%s", out)
			}
			for _, p := range tc.wantPackage {
				if !strings.Contains(out, "installing "+p+" (npm)") && !strings.Contains(out, p+" (npm) in") {
					t.Errorf("does not install %s with npm:\n%s", p, out)
				}
			}
		})
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestDemoNeedsNoNode: `make demo` reaches only the build dependencies, never
// the test ones (node, swtpm, npm packages).
func TestDemoNeedsNoNode(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not on PATH")
	}
	cmd := exec.Command("make", "-n", "demo")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "install-deps.sh") && !strings.HasSuffix(strings.TrimSpace(l), " build") {
			t.Errorf("make demo runs %q: the demo needs only the build dependencies", strings.TrimSpace(l))
		}
	}
}
