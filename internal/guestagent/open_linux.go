package guestagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// linuxDevices are tried in order: the kernel's resource manager first, so
// the agent shares the TPM with other users instead of locking them out.
var linuxDevices = []string{"/dev/tpmrm0", "/dev/tpm0"}

// linuxEventLog is where the kernel exposes the firmware's TCG event log.
const linuxEventLog = "/sys/kernel/security/tpm0/binary_bios_measurements"

// Open opens the guest's TPM: /dev/tpmrm0 (or /dev/tpm0 on kernels without
// the resource manager) and the firmware's event log from securityfs.
func Open() (Channel, error) {
	var errs []error
	for _, dev := range linuxDevices {
		f, err := openDevice(dev)
		if err == nil {
			return &fileChannel{File: f, logPath: linuxEventLog}, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, fmt.Errorf("guestagent: open the TPM: %w (is this a VM with a vTPM, and are you root?)", errors.Join(errs...))
}

// openDevice opens a TPM character device in blocking mode. os.OpenFile
// would make it non-blocking (the runtime poller takes it), and the kernel
// then runs a written command in the background, so the read right after it
// finds no response and returns 0 bytes: go-attestation sees EOF.
func openDevice(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
