// Command guestinit is the /init of the e2e boot's initramfs: it mounts what
// the guest agent reads (devtmpfs, proc, sysfs, securityfs), runs
// `/bin/tlreconcile guest attest --nonce N --format json` with the nonce from
// the kernel command line (tlr.nonce=HEX), prints the evidence on the console
// between the markers e2eboot reads, and powers the VM off. It is PID 1, so it
// never returns: whatever happens, it says so on the console and powers off.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/tlreconcile/tlreconcile/internal/e2eboot"
)

func main() {
	console, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		console = os.Stdout
	}
	if err := run(console); err != nil {
		fmt.Fprintf(console, "\n%s %v\n", e2eboot.FailMarker, err)
	}
	syscall.Sync()
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // PID 1 must not exit: the kernel would panic
}

func run(console *os.File) error {
	for _, m := range []struct{ src, dir, fstype string }{
		{"devtmpfs", "/dev", "devtmpfs"},
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"securityfs", "/sys/kernel/security", "securityfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && err != syscall.EBUSY {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	nonce := ""
	for _, f := range strings.Fields(string(cmdline)) {
		if v, ok := strings.CutPrefix(f, "tlr.nonce="); ok {
			nonce = v
		}
	}
	if nonce == "" {
		return fmt.Errorf("no tlr.nonce= on the kernel command line %q", strings.TrimSpace(string(cmdline)))
	}
	var out, errb bytes.Buffer
	cmd := exec.Command("/bin/tlreconcile", "guest", "attest", "--nonce", nonce, "--format", "json")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("tlreconcile guest attest: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	enc := base64.StdEncoding.EncodeToString(out.Bytes())
	var b strings.Builder
	b.WriteString("\n" + e2eboot.BeginMarker + "\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n" + e2eboot.EndMarker + "\n")
	_, err = console.WriteString(b.String())
	return err
}
