package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until cond holds, failing the test (and killing cmd) after 30s.
func waitFor(t *testing.T, cmd *exec.Cmd, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// journalHas: the journal holds an entry of op (pending or not).
func journalHas(state string, op drivers.OpKind) func() bool {
	return func() bool {
		entries, _ := apply.ReadJournalFile(state)
		for _, en := range entries {
			if en.Op == op {
				return true
			}
		}
		return false
	}
}

// replaceEnv is vm/a applied as a trusted-launch VM and then declared a
// Standard one: Azure Local fixes the security profile at create, so the plan
// replaces it (stop-vm, delete-vm, create-vm, set-annotations), the delete
// destructive. The ARM operation slow is delayed by latency (none when 0).
func replaceEnv(t *testing.T, slow string, latency time.Duration) *applyEnv {
	t.Helper()
	e := newApplyEnv(t, vmDoc{name: "a"})
	e.mustApply()
	e.write(vmDoc{name: "a", standard: true})
	if latency > 0 {
		e.inject("--operation", slow, "--latency", latency.String())
	}
	return e
}

// The ARM operations the replace's steps make slow.
const (
	armCreate = "VirtualMachineInstances_CreateOrUpdate"
	armDelete = "VirtualMachineInstances_Delete"
	armStart  = "VirtualMachineInstances_Start"
)

func startApply(t *testing.T, e *applyEnv, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	cmd := e.command(append([]string{"apply", "-f", e.dir, "--auto-approve", "--retry-base", "1ms", "--retry-max", "5ms"}, args...)...)
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out, errOut
}

func exitOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// TestApplySIGINTDuringReplace: SIGINT while the replacing create runs says
// what apply waits for, and the change finishes (create-vm, set-annotations)
// instead of leaving vm/a half-replaced.
func TestApplySIGINTDuringReplace(t *testing.T) {
	e := replaceEnv(t, armCreate, 700*time.Millisecond)
	cmd, out, errOut := startApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the pending create in the journal", journalHas(e.state, drivers.OpCreateVM))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := exitOf(t, cmd.Wait())
	if want := "waiting for vm/a/create-vm"; !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "interrupt again") {
		t.Errorf("stderr lacks %q and the second-interrupt hint:\n%s", want, errOut.String())
	}
	a := e.vm("a")
	if a.Power != drivers.PowerRunning || a.SecurityType != spec.SecurityStandard {
		t.Fatalf("vm/a is %s %s after the interrupt, want a Running Standard VM (exit %d)\n%s\n%s", a.Power, a.SecurityType, code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "vm/a/create-vm: done") {
		t.Errorf("output lacks the finished create:\n%s", out.String())
	}
	e.clearFaults()
	e.mustApply()
	e.converged()
}

// TestApplySecondSIGINTAborts: the second interrupt aborts at once, with
// 128+SIGINT. Before, it was swallowed and apply waited for the slow step.
func TestApplySecondSIGINTAborts(t *testing.T) {
	e := replaceEnv(t, armCreate, 20*time.Second)
	cmd, _, errOut := startApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the pending create in the journal", journalHas(e.state, drivers.OpCreateVM))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cmd, "the interrupt notice", func() bool { return strings.Contains(errOut.String(), "interrupt again") })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitOf(t, err); code != 130 || !strings.Contains(errOut.String(), "interrupt again: aborting at once") {
			t.Errorf("exit %d, want 130\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the second SIGINT did not abort:\n%s", errOut.String())
	}
}

// TestApplyLeftOffNamesVM: a VM the run leaves Off makes apply exit non-zero
// and say which VM and why, last on stderr. Before, the exit was 1 with
// nothing on stderr; the reason hid in the results table.
func TestApplyLeftOffNamesVM(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	e.mustApply()
	e.write(vmDoc{name: "a", processors: 4}) // stop-vm, set-hardware, start-vm
	e.inject("--operation", armStart, "--fail-lro", "1000")
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--retry-attempts", "1")
	if code == 0 || !strings.Contains(errOut, "Error: apply: 1 VM(s) left Off: vm/a could not be started again") {
		t.Fatalf("exit %d, stderr lacks the left-Off VM:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, "az stack-hci-vm start --name a") {
		t.Errorf("no hint how to start it on Azure Local:\n%s\n%s", out, errOut)
	}
	if a := e.vm("a"); a.Power != drivers.PowerOff {
		t.Errorf("vm/a is %s, want Off", a.Power)
	}
}
