//go:build unix

package main

import (
	"bufio"
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestApplySurvivesClosedOutputPipe: `apply ... | head -3` closes stdout while
// the run is inside a VM's stop/start window. The process must not die of
// SIGPIPE there: it finishes the steps, so the VM it stopped runs again.
func TestApplySurvivesClosedOutputPipe(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	e.mustApply()
	e.write(vmDoc{name: "a", processors: 4}) // an Off-only change: stop, set-processor, start
	e.inject("--operation", "*", "--latency", "150ms")

	cmd := e.command("apply", "-f", e.dir, "--auto-approve", "--format", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("no first event line: %v", err)
	}
	stdout.Close() // the reader goes away, like head -1
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("apply was killed by %v after its output pipe closed", ws.Signal())
		}
	}
	vm := e.vm("a")
	if vm.Power != drivers.PowerRunning || vm.Processors != 4 {
		t.Fatalf("vm/a is %s with %d processors, want Running with 4: the run must finish what it started", vm.Power, vm.Processors)
	}
}
