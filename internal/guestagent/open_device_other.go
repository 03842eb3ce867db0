//go:build !linux

package guestagent

import "os"

// openDevice opens a TPM device path; only Linux has TPM device files.
func openDevice(path string) (*os.File, error) { return os.OpenFile(path, os.O_RDWR, 0) }
