package main

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestApplyBlockedExitsNonZero: a change that cannot run (here: starting a
// VM on a node whose MOC node agent, wssdagent, is down: tlreconcile starts
// only IGVmAgent) leaves the clusters different from the YAML, so apply must
// not exit 0 and let CI go green.
func TestApplyBlockedExitsNonZero(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	e.mustApply()
	node := e.vm("a").Node
	e.drift("a", "power=Off")
	e.sim("stop-agent", "--node", node, "--agent", "wssdagent")
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	if code != 1 {
		t.Fatalf("apply with a blocked change exited %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "1 blocked") || !strings.Contains(errOut, "1 change(s) blocked") {
		t.Fatalf("want the blocked count on stdout and the reason to fail on stderr\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if e.vm("a").Power != drivers.PowerOff {
		t.Fatal("a blocked start ran anyway")
	}
}

func TestApplyTargetsNodes(t *testing.T) {
	o := applyOptions{filenames: []string{"d"}, targets: []string{"node/node1", "vm/a"}}
	if err := checkTargets("apply", o.targets); err != nil {
		t.Fatalf("node/NAME and vm/NAME are valid targets for apply as for plan: %v", err)
	}
	for _, bad := range []string{"cluster/c1", "vm/", "node/a/b", "a"} {
		if err := checkTargets("apply", []string{bad}); err == nil || !strings.Contains(err.Error(), "write vm/NAME or node/NAME") {
			t.Errorf("--target %q: err = %v, want the vm/NAME or node/NAME hint", bad, err)
		}
	}
}

// TestApplyYAMLAsPlanFile: `apply DIR` (the -f forgotten) says what to run.
func TestApplyYAMLAsPlanFile(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	for _, arg := range []string{e.dir, e.dir + "/desired.yaml"} {
		_, errOut, code := e.run("apply", arg)
		if code != 1 || !strings.Contains(errOut, "this is desired-state YAML, not a plan file") || !strings.Contains(errOut, "tlreconcile apply -f "+arg) {
			t.Errorf("apply %s: exit %d\n%s", arg, code, errOut)
		}
	}
}
