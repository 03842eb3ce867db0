//go:build cgo

package vtpm

// referenceAvailable says whether this binary links the reference TPM: it
// does when built with cgo.
func referenceAvailable() error { return nil }
