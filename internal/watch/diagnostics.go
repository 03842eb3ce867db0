package watch

import "github.com/tlreconcile/tlreconcile/internal/spec"

// Diagnostic is a problem in the desired-state files, as spec reports it.
type Diagnostic = spec.Diagnostic
