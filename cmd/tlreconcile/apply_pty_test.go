package main

import (
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// ptyApply starts apply under script(1), which gives it a real
// pseudo-terminal; what the test writes to the returned pipe is typed on that
// terminal (0x03 is Ctrl-C: the terminal sends SIGINT).
func ptyApply(t *testing.T, e *applyEnv, args ...string) (*exec.Cmd, io.WriteCloser, *lockedBuffer) {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is not installed: no pseudo-terminal to run apply on")
	}
	argv := append([]string{applyBin}, e.command(append([]string{"apply", "-f", e.dir, "--retry-base", "1ms", "--retry-max", "5ms"}, args...)...).Args[1:]...)
	cmd := exec.Command(script, "-q", "-e", "-c", shellQuote(argv), "/dev/null")
	cmd.Env = append(e.command().Env, "COLUMNS=100", "LINES=40")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return cmd, in, out
}

// TestApplyCtrlCAtPrompt: Ctrl-C at the approval question cancels at once,
// exit non-zero, nothing created. Before, the interrupt was ignored until
// Enter, and a "yes" typed then ran an apply that skipped every step.
func TestApplyCtrlCAtPrompt(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	cmd, in, out := ptyApply(t, e)
	waitFor(t, cmd, "the approval question", func() bool { return strings.Contains(out.String(), "Only 'yes' is accepted") })
	if _, err := in.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitOf(t, err); code == 0 || !strings.Contains(out.String(), "Apply cancelled: nothing was changed.") {
			t.Errorf("exit %d, want non-zero and the cancel message:\n%q", code, out.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("Ctrl-C at the prompt did not cancel:\n%q", out.String())
	}
	if vms := workloads(e.observe()); len(vms) != 0 {
		t.Errorf("something was created after Ctrl-C: %+v", vms)
	}
}

// TestApplyCtrlCDuringApply: Ctrl-C on the terminal during the apply says
// what it waits for. Before, it printed nothing until the run ended.
func TestApplyCtrlCDuringApply(t *testing.T) {
	e := replaceEnv(t, armCreate, 700*time.Millisecond)
	cmd, in, out := ptyApply(t, e, "--allow-destructive")
	waitFor(t, cmd, "the approval question", func() bool { return strings.Contains(out.String(), "Only 'yes' is accepted") })
	if _, err := in.Write([]byte("yes\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, cmd, "the pending create in the journal", journalHas(e.state, drivers.OpCreateVM))
	if _, err := in.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if got := out.String(); !strings.Contains(got, "waiting for vm/a/create-vm") || !strings.Contains(got, "interrupt again") {
		t.Errorf("no interrupt notice on the terminal:\n%q", got)
	}
	if a := e.vm("a"); a.Power != drivers.PowerRunning {
		t.Errorf("vm/a is %s after Ctrl-C, want Running", a.Power)
	}
}
