package e2eboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BootOptions are one boot of the chain.
type BootOptions struct {
	Chain Chain
	// ESP is the EFI system partition image (BuildESP).
	ESP string
	// SecureBoot boots with the Microsoft-keyed vars (Secure Boot on);
	// otherwise with the plain vars (off).
	SecureBoot bool
	// Dir holds this boot's vars copy, swtpm state and logs.
	Dir string
	// Accel is "tcg" (the default) or "kvm". The Secure Boot firmware needs
	// SMM, which a nested KVM may lack ("System Management Mode not supported
	// by this hypervisor", as on the machine this was written on).
	Accel string
	// Memory is the guest's RAM in MiB; 0 is 512.
	Memory int
}

// BootResult is what one boot gave.
type BootResult struct {
	Accel    string
	Duration time.Duration // QEMU start to power off
	Serial   []byte        // the whole serial console
	Evidence []byte        // the evidence JSON, when the guest printed it
}

// Boot starts swtpm on a fresh state and QEMU on it, waits for the guest to
// power off (ctx bounds it), and returns the console and the evidence on it.
func Boot(ctx context.Context, o BootOptions) (BootResult, error) {
	res := BootResult{Accel: o.Accel}
	if res.Accel == "" {
		res.Accel = "tcg"
	}
	vars := o.Chain.VarsPlain
	if o.SecureBoot {
		vars = o.Chain.VarsMS
	}
	varsCopy := filepath.Join(o.Dir, "OVMF_VARS.fd")
	if err := copyFile(vars, varsCopy); err != nil {
		return res, err
	}
	tpmDir := filepath.Join(o.Dir, "tpm")
	sock, stop, err := startSwtpm(ctx, tpmDir)
	if err != nil {
		return res, err
	}
	defer stop()
	serial := filepath.Join(o.Dir, "serial.log")
	mem := o.Memory
	if mem == 0 {
		mem = 512
	}
	args := qemuArgs(res.Accel, mem, o.Chain.OVMFCode, varsCopy, sock, o.ESP, serial)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	res.Duration = time.Since(start)
	res.Serial, _ = os.ReadFile(serial)
	if runErr != nil {
		return res, fmt.Errorf("e2eboot: qemu (%s, %s): %w: %s", res.Accel, sbName(o.SecureBoot), runErr, strings.TrimSpace(stderr.String()))
	}
	res.Evidence, err = ExtractEvidence(res.Serial)
	return res, err
}

func qemuArgs(accel string, mem int, code, vars, tpmSock, esp, serial string) []string {
	return []string{
		"-machine", "q35,smm=on", "-accel", accel, "-m", fmt.Sprint(mem),
		"-nodefaults", "-display", "none", "-no-reboot", "-no-user-config",
		// The Secure Boot firmware keeps its variables in SMM-protected flash.
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-chardev", "socket,id=chrtpm,path=" + tpmSock,
		"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
		"-device", "tpm-tis,tpmdev=tpm0",
		"-drive", "if=none,id=esp,format=raw,file=" + esp,
		"-device", "virtio-blk-pci,drive=esp,bootindex=0",
		"-serial", "file:" + serial,
	}
}

func sbName(on bool) string {
	if on {
		return "Secure Boot on"
	}
	return "Secure Boot off"
}

// startSwtpm runs swtpm as QEMU's TPM emulator backend: the control socket
// only (QEMU passes it the data channel), exiting when QEMU disconnects.
// The state is fresh, so the vTPM is newly manufactured.
func startSwtpm(ctx context.Context, dir string) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	sock := filepath.Join(dir, "swtpm.sock")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+dir,
		"--ctrl", "type=unixio,path="+sock,
		"--terminate",
		"--log", "file="+filepath.Join(dir, "swtpm.log")+",level=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("e2eboot: start swtpm: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-done
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock, stop, nil
		}
		select {
		case err := <-done:
			done <- err
			return "", func() {}, fmt.Errorf("e2eboot: swtpm exited before listening: %v: %s", err, strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("e2eboot: swtpm did not create its socket in 10s")
		}
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("e2eboot: %w", err)
	}
	return os.WriteFile(dst, b, 0o600)
}
