package guestagent

import (
	"io"
	"os"
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
