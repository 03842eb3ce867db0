package vtpm

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel stop swtpm when this process dies, so a
// crashed tlreconcile never leaves a vTPM holding its state directory's lock.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
