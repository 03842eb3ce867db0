package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
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

// resetEnv is vm/a with a drifted Secure Boot template, so that the plan
// resets its vTPM (stop-vm, ensure-key-protector reset, set-secure-boot,
// start-vm, ...), and the reset made slow.
func resetEnv(t *testing.T, latency time.Duration) *applyEnv {
	t.Helper()
	e := newApplyEnv(t, vmDoc{name: "a"})
	e.mustApply()
	if err := e.sim().Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "secureBootTemplate", Value: spec.TemplateMicrosoftUEFICA}}); err != nil {
		t.Fatal(err)
	}
	e.inject(hvmodel.Fault{Op: drivers.OpEnsureKeyProtector, Latency: latency})
	return e
}

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

// TestApplySIGINTDuringReset: SIGINT while the vTPM reset runs says what
// apply waits for, and the VM finishes its window (set-secure-boot and
// start-vm) instead of being left Off. Before, the run stopped right after
// the reset and restorePower left vm/a Off ("left Off: its vTPM was reset
// ...") without a word at the signal.
func TestApplySIGINTDuringReset(t *testing.T) {
	e := resetEnv(t, 700*time.Millisecond)
	cmd, out, errOut := startApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the pending reset in the journal", journalHas(e.state, drivers.OpEnsureKeyProtector))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := exitOf(t, cmd.Wait())
	want := "waiting for vm/a/ensure-key-protector, then set-secure-boot, start-vm: its vTPM was reset"
	if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "interrupt again") {
		t.Errorf("stderr lacks %q and the second-interrupt hint:\n%s", want, errOut.String())
	}
	a := e.vm("a")
	if a.Power != drivers.PowerRunning || a.SecureBootTemplate != spec.TemplateMicrosoftWindows {
		t.Fatalf("vm/a is %s with template %s after the interrupt, want Running with %s (exit %d)\n%s\n%s", a.Power, a.SecureBootTemplate, spec.TemplateMicrosoftWindows, code, out.String(), errOut.String())
	}
	for _, s := range []string{"vm/a/set-secure-boot: done", "vm/a/start-vm: done"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	if err := e.sim().ClearFaults("c1"); err != nil {
		t.Fatal(err)
	}
	e.mustApply()
	e.converged()
}

// TestApplySecondSIGINTAborts: the second interrupt aborts at once, with
// 128+SIGINT. Before, it was swallowed and apply waited for the slow step.
func TestApplySecondSIGINTAborts(t *testing.T) {
	e := resetEnv(t, 20*time.Second)
	cmd, _, errOut := startApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the pending reset in the journal", journalHas(e.state, drivers.OpEnsureKeyProtector))
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
	e := resetEnv(t, 0)
	e.inject(hvmodel.Fault{Op: drivers.OpSetSecureBoot, FailAlways: true})
	out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--allow-destructive", "--retry-attempts", "1")
	if code == 0 || !strings.Contains(errOut, "Error: apply: 1 VM(s) left Off: vm/a left Off: its vTPM was reset") {
		t.Fatalf("exit %d, stderr lacks the left-Off VM:\n%s\n%s", code, out, errOut)
	}
	if a := e.vm("a"); a.Power != drivers.PowerOff {
		t.Errorf("vm/a is %s, want Off", a.Power)
	}
}
