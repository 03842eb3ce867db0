package e2eboot

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Chain is the boot chain and firmware from Debian's packages: shim-signed,
// grub-efi-amd64-signed and the signed kernel unpacked under the cache
// (scripts/e2e-boot-deps.sh), OVMF installed.
type Chain struct {
	Shim, Grub, Kernel string
	// OVMFCode is the Secure Boot capable firmware (needs SMM).
	OVMFCode string
	// VarsMS has Microsoft's KEK and db (UEFI CA 2011, which signs shim), and
	// Secure Boot enabled; VarsPlain has no keys, so Secure Boot is off.
	VarsMS, VarsPlain string
}

// OVMFDir is where Debian's ovmf package installs the firmware.
const OVMFDir = "/usr/share/OVMF"

// FindChain locates the chain unpacked under cache/debs/root and OVMF. The
// error names what is missing and the command that fetches it.
func FindChain(cache string) (Chain, error) {
	root := filepath.Join(cache, "debs", "root")
	kernels, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	c := Chain{
		Shim:      filepath.Join(root, "usr/lib/shim/shimx64.efi.signed"),
		Grub:      filepath.Join(root, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"),
		OVMFCode:  filepath.Join(OVMFDir, "OVMF_CODE_4M.secboot.fd"),
		VarsMS:    filepath.Join(OVMFDir, "OVMF_VARS_4M.ms.fd"),
		VarsPlain: filepath.Join(OVMFDir, "OVMF_VARS_4M.fd"),
	}
	if len(kernels) > 0 {
		c.Kernel = kernels[len(kernels)-1]
	}
	var missing []string
	for _, p := range []string{c.Shim, c.Grub, c.Kernel, c.OVMFCode, c.VarsMS, c.VarsPlain} {
		if _, err := os.Stat(p); p == "" || err != nil {
			missing = append(missing, orKernel(p))
		}
	}
	for _, tool := range []string{"qemu-system-x86_64", "swtpm", "mkfs.vfat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("e2eboot: missing %s: run `bash scripts/e2e-boot-deps.sh %s` (or `make test-e2e`)", strings.Join(missing, ", "), cache)
	}
	return c, nil
}

func orKernel(p string) string {
	if p == "" {
		return "the signed kernel (boot/vmlinuz-*)"
	}
	return p
}

// BuildInitramfs writes the gzip'd initramfs: /init is guestinit, and
// /bin/tlreconcile the agent it runs (both static, CGO_ENABLED=0).
func BuildInitramfs(path string, init, agent []byte) error {
	var raw bytes.Buffer
	entries := []CPIOEntry{
		{Name: "bin", Mode: CPIODir | 0o755},
		{Name: "dev", Mode: CPIODir | 0o755},
		{Name: "dev/console", Mode: CPIOChar | 0o600, Major: 5, Minor: 1},
		{Name: "proc", Mode: CPIODir | 0o755},
		{Name: "run", Mode: CPIODir | 0o755},
		{Name: "sys", Mode: CPIODir | 0o755},
		{Name: "init", Mode: CPIOFile | 0o755, Data: init},
		{Name: "bin/tlreconcile", Mode: CPIOFile | 0o755, Data: agent},
	}
	if err := WriteCPIO(&raw, entries); err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, gz.Bytes(), 0o644)
}

// GrubConfig is the GRUB menu of the e2e boot: the kernel with the nonce on
// its command line (GRUB measures the line into PCR 8, the kernel and
// initramfs files into PCR 9). linuxefi, not linux: with Secure Boot off
// Debian's GRUB boots a "linux" kernel through the legacy entry point, so
// the kernel's EFI stub never runs and never hands the kernel the firmware's
// TCG event log (securityfs then has no binary_bios_measurements).
func GrubConfig(nonceHex string) string {
	return `set timeout=0
set default=0
menuentry "tlreconcile e2e" {
	linuxefi /vmlinuz console=ttyS0 quiet loglevel=1 panic=-1 tlr.nonce=` + nonceHex + `
	initrdefi /initrd.img
}
`
}

// BuildESP writes a FAT EFI system partition image: shim as the removable
// media loader (\EFI\BOOT\BOOTX64.EFI), GRUB beside it, GRUB's menu where its
// embedded prefix (/EFI/debian) looks, the kernel and the initramfs.
func BuildESP(ctx context.Context, path string, c Chain, initrd, grubCfg string) error {
	dir := filepath.Dir(path)
	cfg := filepath.Join(dir, "grub.cfg")
	if err := os.WriteFile(cfg, []byte(grubCfg), 0o644); err != nil {
		return err
	}
	_ = os.Remove(path)
	steps := [][]string{
		{"mkfs.vfat", "-C", "-n", "TLRESP", path, "98304"},
		{"mmd", "-i", path, "::/EFI", "::/EFI/BOOT", "::/EFI/debian"},
		{"mcopy", "-i", path, c.Shim, "::/EFI/BOOT/BOOTX64.EFI"},
		{"mcopy", "-i", path, c.Grub, "::/EFI/BOOT/grubx64.efi"},
		{"mcopy", "-i", path, cfg, "::/EFI/debian/grub.cfg"},
		{"mcopy", "-i", path, cfg, "::/EFI/BOOT/grub.cfg"},
		{"mcopy", "-i", path, c.Kernel, "::/vmlinuz"},
		{"mcopy", "-i", path, initrd, "::/initrd.img"},
	}
	for _, s := range steps {
		out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("e2eboot: %s: %w: %s", strings.Join(s, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}
