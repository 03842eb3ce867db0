package guestagent

import "fmt"

// Open opens the guest's own TPM: /dev/tpmrm0 with the firmware's event log
// from securityfs on Linux, TBS on Windows (openOS).
func Open() (*Session, error) {
	rwc, err := openRaw()
	if err != nil {
		return nil, fmt.Errorf("guest agent: open the TPM (is this a VM with a vTPM, and are you root/Administrator?): %w", err)
	}
	s, err := openOS(rwc)
	if err != nil {
		rwc.Close()
		return nil, err
	}
	return s, nil
}
