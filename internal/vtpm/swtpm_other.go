//go:build !linux

package vtpm

import "os/exec"

// setParentDeathSignal has no portable equivalent outside Linux; Close stops swtpm.
func setParentDeathSignal(*exec.Cmd) {}
