package guestagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
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

type fileChannel struct {
	*os.File
	logPath string
}

func (c *fileChannel) MeasurementLog() ([]byte, error) {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return nil, fmt.Errorf("guestagent: read the event log %s: %w (is securityfs mounted at /sys/kernel/security?)", c.logPath, err)
	}
	return b, nil
}
