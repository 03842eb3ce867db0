package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

// TestApplyRerunWithoutDestructiveAfterKill: an `apply --allow-destructive`
// killed during the vTPM reset leaves vm/a Off; the re-run without the flag
// refuses the destructive step as before, and now says that vm/a is Off
// because of the interrupted run, not to start it by hand (the reset had
// begun), and what to run. Before, it said only "nothing was applied; re-run
// with --allow-destructive" and the VM stayed Off without a word.
func TestApplyRerunWithoutDestructiveAfterKill(t *testing.T) {
	e := resetEnv(t, 20*time.Second)
	cmd, _, _ := startApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the pending reset in the journal", journalHas(e.state, drivers.OpEnsureKeyProtector))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := e.sim().ClearFaults("c1"); err != nil {
		t.Fatal(err)
	}
	if a := e.vm("a"); a.Power != drivers.PowerOff {
		t.Fatalf("vm/a is %s after the kill, want Off (the kill landed too late)", a.Power)
	}
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	for _, want := range []string{
		"vm/a/ensure-key-protector is destructive: nothing was applied",
		"vm/a is Off because the interrupted apply (run ",
		"re-run that apply with --allow-destructive",
		"its vTPM reset had begun, so do not start it by hand",
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s\n%s", code, want, out, errOut)
		}
	}
	e.mustApply("--allow-destructive")
	e.converged()
}

// TestApplyRerunWithoutDestructiveAfterStop: the interrupted run stopped
// vm/a and died before its reset began (the journal holds the stop-vm and
// nothing after it): the refusal offers starting it by hand as safe.
func TestApplyRerunWithoutDestructiveAfterStop(t *testing.T) {
	e := resetEnv(t, 0)
	ref := drivers.ClusterRef{Name: "c1", Driver: hvmodel.Name, Nodes: []string{"node1", "node2"}}
	if _, err := e.sim().Apply(context.Background(), ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: "c1", VM: "a"}); err != nil {
		t.Fatal(err)
	}
	j, err := apply.OpenJournal(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(apply.Entry{Time: time.Now(), Run: "42", Cluster: "c1", Resource: "vm/a", Step: "vm/a/stop-vm", Op: drivers.OpStopVM, Changed: true}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	if want := "vm/a is Off because the interrupted apply (run 42) stopped it"; code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "start it by hand (Start-VM a)") {
		t.Errorf("exit %d, stderr lacks %q and the Start-VM hint:\n%s", code, want, errOut)
	}
}
