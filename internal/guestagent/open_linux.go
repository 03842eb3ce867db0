package guestagent

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// eventLogPath is where Linux exposes the firmware's TCG event log.
const eventLogPath = "/sys/kernel/security/tpm0/binary_bios_measurements"

type linuxChannel struct{ io.ReadWriteCloser }

func (linuxChannel) MeasurementLog() ([]byte, error) { return os.ReadFile(eventLogPath) }

func openOS(rwc io.ReadWriteCloser) (*Session, error) {
	s, err := NewSession(linuxChannel{rwc})
	if err != nil {
		return nil, err
	}
	s.own = rwc
	return s, nil
}

// linuxDevices are tried in order: the kernel's resource manager first, so
// the agent shares the TPM instead of locking other users out.
var linuxDevices = []string{"/dev/tpmrm0", "/dev/tpm0"}

// openRaw opens the TPM character device blocking. os.OpenFile would hand it
// to the runtime poller (non-blocking), and the read right after a command
// can then find no response yet (seen in the e2e boot's guest).
func openRaw() (io.ReadWriteCloser, error) {
	var errs []error
	for _, dev := range linuxDevices {
		fd, err := syscall.Open(dev, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err == nil {
			return os.NewFile(uintptr(fd), dev), nil
		}
		errs = append(errs, &os.PathError{Op: "open", Path: dev, Err: err})
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, errors.Join(errs...)
}
