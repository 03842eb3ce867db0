package drivers

import (
	"errors"
	"fmt"
)

// Sentinel errors every driver maps its platform's failures to; check with errors.Is.
var (
	// ErrNotFound: the VM, node or cluster does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidState: the object is in the wrong state for the operation
	// (Hyper-V 32775, typically "the VM must be Off").
	ErrInvalidState = errors.New("invalid state for the operation")
	// ErrPrecondition: something the op needs is missing (no key protector,
	// a node without a running IgvmAgent, Generation 1, template after vTPM init).
	ErrPrecondition = errors.New("precondition failed")
	// ErrNotSupported: the platform cannot do this at all (change security type).
	ErrNotSupported = errors.New("not supported")
	// ErrAlreadyExists: create of a VM whose name is taken.
	ErrAlreadyExists = errors.New("already exists")
)

// transientError marks an error that apply may retry.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Transient marks err as worth retrying (timeouts, a lost connection, an injected one-off fault).
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err: err}
}

// IsTransient reports whether err, or anything it wraps, was marked Transient.
func IsTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// OpError says which op on which target failed.
type OpError struct {
	Op     OpKind
	Target string // "vm/NAME" or "node/NAME"
	Err    error
}

func (e *OpError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Target, e.Op, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// ErrInvalidArgument: the op's parameters are wrong (Hyper-V 32773, "invalid
// parameter"): an unknown generation, a zero processor count, a bad name.
var ErrInvalidArgument = errors.New("invalid argument")
