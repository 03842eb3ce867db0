//go:build !cgo

package vtpm

import "errors"

// ErrNoCgo is what the reference TPM returns in a binary built without cgo
// (the guest agent's build: CGO_ENABLED=0 for Windows and Linux guests),
// where go-tpm-tools' simulator is only a stub.
var ErrNoCgo = errors.New(ErrNoCgoMessage)

func referenceAvailable() error { return ErrNoCgo }
