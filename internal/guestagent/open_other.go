//go:build !linux && !windows

package guestagent

import "errors"

// Open fails: the agent runs in Linux and Windows guests only.
func Open() (Channel, error) {
	return nil, errors.New("guestagent: no TPM access on this OS: the guest agent runs in Linux and Windows guests")
}
