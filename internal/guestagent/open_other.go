//go:build !linux && !windows

package guestagent

import (
	"errors"
	"io"
)

func openOS(io.ReadWriteCloser) (*Session, error) {
	return nil, errors.New("guest agent: runs in Linux and Windows guests only")
}

func openRaw() (io.ReadWriteCloser, error) {
	return nil, errors.New("guest agent: runs in Linux and Windows guests only")
}
