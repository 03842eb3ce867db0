// Package e2eboot is the real boot of issue 12: QEMU with OVMF (Secure Boot
// code, the Microsoft-keyed or the plain vars) and swtpm boots Debian's signed
// shim, GRUB and kernel with an initramfs whose init (guestinit) runs
// `tlreconcile guest attest` and prints the evidence on the serial console;
// the host verifies it with internal/attest. The test runs only with
// TLR_E2E_BOOT=1 (`make test-e2e`), since it needs QEMU, OVMF and the boot
// chain from Debian's packages (scripts/e2e-boot-deps.sh) and a minute or two.
//
// It must not touch this machine's own boot: the boot chain is unpacked from
// the packages into a cache directory, never installed.
package e2eboot
