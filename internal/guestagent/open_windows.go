package guestagent

import (
	"fmt"
	"io"

	ga "github.com/google/go-attestation/attest"
	legacy "github.com/google/go-tpm/legacy/tpm2"
)

// openRaw opens TBS for the raw TPM 2.0 commands.
func openRaw() (io.ReadWriteCloser, error) { return legacy.OpenTPM() }

// openOS uses go-attestation's own TBS session (it reads the event log
// through TBS) and rwc for the raw EK commands.
func openOS(rwc io.ReadWriteCloser) (*Session, error) {
	tpm, err := ga.OpenTPM(&ga.OpenConfig{})
	if err != nil {
		return nil, fmt.Errorf("guest agent: open the TPM through TBS: %w", err)
	}
	return &Session{tpm: tpm, raw: rwc, own: rwc}, nil
}
