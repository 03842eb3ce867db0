package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestApplyRerunWithoutDestructiveAfterKill: an `apply --allow-destructive`
// killed while its replace's delete waits on ARM leaves vm/a Off; the re-run
// without the flag refuses the destructive step as before, and says that
// vm/a is Off because of the interrupted run, how to start it by hand on
// Azure Local to keep its vTPM, and what to run. Before, it said only
// "nothing was applied; re-run with --allow-destructive" and the VM stayed
// Off without a word.
func TestApplyRerunWithoutDestructiveAfterKill(t *testing.T) {
	e := replaceEnv(t, armDelete, 20*time.Second)
	cmd, _, _ := startApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the completed stop in the journal", journalHas(e.state, drivers.OpStopVM))
	time.Sleep(300 * time.Millisecond) // the delete's request is in the sim's latency by now
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	e.clearFaults()
	if a := e.vm("a"); a.Power != drivers.PowerOff {
		t.Fatalf("vm/a is %s after the kill, want Off (the kill landed too late)", a.Power)
	}
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	for _, want := range []string{
		"vm/a/delete-vm is destructive: nothing was applied",
		"vm/a is Off because the interrupted apply (run ",
		"re-run that apply with --allow-destructive",
		"start it by hand (az stack-hci-vm start --name a, or Start in the Azure portal)",
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
	e := replaceEnv(t, "", 0)
	e.drift("a", "power=Off")
	j, err := apply.OpenJournal(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(apply.Entry{Time: time.Now(), Run: "42", Cluster: "c1", Resource: "vm/a", Step: "vm/a/stop-vm", Op: drivers.OpStopVM, Changed: true}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve")
	if want := "vm/a is Off because the interrupted apply (run 42) stopped it"; code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "start it by hand (az stack-hci-vm start --name a") {
		t.Errorf("exit %d, stderr lacks %q and the Start-VM hint:\n%s", code, want, errOut)
	}
}
