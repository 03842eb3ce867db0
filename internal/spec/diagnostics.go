package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/go-multierror"
)

// Severity says whether a diagnostic makes the desired state unusable.
type Severity string

// Severities. Warnings do not fail `validate` unless --warnings-as-errors.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Rule ids: stable strings that users grep for and CI annotations show.
// Changing one is a breaking change; README's rule table lists them all.
const (
	// Input: files and YAML.
	RuleFileUnreadable      = "file-unreadable"
	RuleFileTooLarge        = "file-too-large"
	RuleSymlinkOutsideRoot  = "symlink-outside-root"
	RuleNoYAMLFiles         = "no-yaml-files"
	RuleInvalidEncoding     = "invalid-encoding"
	RuleYAMLSyntax          = "yaml-syntax"
	RuleYAMLTabs            = "yaml-tabs"
	RuleDuplicateKey        = "duplicate-key"
	RuleYAMLTooDeep         = "yaml-too-deep"
	RuleYAMLAliasExpansion  = "yaml-alias-expansion"
	RuleEmptyDocument       = "empty-document"
	RuleSchema              = "schema"
	RuleUnknownField        = "unknown-field"
	RuleInvalidName         = "invalid-name"
	RuleProcessorsRange     = "processors-out-of-range"
	RuleMemoryRange         = "memory-out-of-range"
	RuleDuplicateName       = "duplicate-name"
	RuleUnknownCluster      = "unknown-cluster"
	RuleMissingCluster      = "missing-cluster"
	RuleUnknownNode         = "unknown-node"
	RuleImageNotSupported   = "image-not-supported"
	RuleTLNeedsSBAndVTPM    = "trusted-launch-needs-secure-boot-and-vtpm"
	RuleTemplateMismatch    = "secure-boot-template-mismatch"
	RuleBootIntegrity       = "boot-integrity-not-available"
	RuleLiveMigrationPlain  = "live-migration-unencrypted"
	RuleIgvmAgentIgnored    = "igvm-agent-ignored"
	RuleVMFileAccessIgnored = "vm-file-access-ignored"
	RuleInternal            = "internal"
	RuleSecretInYAML        = "secret-in-yaml"
	RuleClusteredLocalPath  = "clustered-vm-path-not-cluster-storage"
	RuleAttestationUnpinned = "attestation-identity-not-read"
)

// Diagnostic is one problem found in the input. Line and Column are 1-based;
// both are 0 when the problem concerns a whole file or directory. Path is a
// JSON pointer into the document ("" for the document or file itself).
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Rule     string   `json:"rule"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Path     string   `json:"path"`
	Message  string   `json:"message"`
}

// Error formats d like the text view: file:line:col: severity[rule]: message.
func (d Diagnostic) Error() string {
	loc := d.File
	if d.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Column)
	}
	return fmt.Sprintf("%s: %s[%s]: %s", loc, d.Severity, d.Rule, d.Message)
}

// Diagnostics is every problem of one load, sorted by file, line and column.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error (not a warning).
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Count returns the number of errors and warnings.
func (ds Diagnostics) Count() (errs, warnings int) {
	for _, d := range ds {
		if d.Severity == SeverityError {
			errs++
		} else {
			warnings++
		}
	}
	return errs, warnings
}

// ErrInvalid is wrapped by Diagnostics.Err so callers can test with errors.Is.
var ErrInvalid = errors.New("desired state is invalid")

// Err returns nil when there are no errors, otherwise one error listing every
// error diagnostic (warnings are left out) that wraps ErrInvalid.
func (ds Diagnostics) Err() error {
	var merr *multierror.Error
	for _, d := range ds {
		if d.Severity == SeverityError {
			merr = multierror.Append(merr, d)
		}
	}
	if merr == nil {
		return nil
	}
	merr.ErrorFormat = func(es []error) string {
		s := fmt.Sprintf("%s: %d error(s); fix them and run `tlreconcile validate` again:", ErrInvalid, len(es))
		for _, e := range es {
			s += "\n  " + e.Error()
		}
		return s
	}
	return &invalidError{merr: merr}
}

// invalidError makes the multierror also match ErrInvalid.
type invalidError struct{ merr *multierror.Error }

func (e *invalidError) Error() string        { return e.merr.Error() }
func (e *invalidError) Unwrap() []error      { return e.merr.WrappedErrors() }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// WithWarningsAsErrors returns a copy in which every warning is an error.
func (ds Diagnostics) WithWarningsAsErrors() Diagnostics {
	out := slices.Clone(ds)
	for i := range out {
		out[i].Severity = SeverityError
	}
	return out
}

// sortAndDedup orders by file, line, column, rule, message and drops exact repeats
// (the combined schema can report one missing field twice).
func (ds Diagnostics) sortAndDedup() Diagnostics {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(ds)
}
