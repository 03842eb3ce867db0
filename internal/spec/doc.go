// Package spec owns the desired state: it finds and reads the YAML files,
// keeps every value's file, line and column, validates documents against the
// embedded JSON Schema and Azure Local's trusted-launch rules, applies
// defaults, and reports every problem of every file in one sorted list of
// Diagnostics with stable rule ids. It must not print, talk to drivers or
// decide what to change: it never imports drivers, plan or view, and bad input
// gives diagnostics, never a panic or an unbounded amount of work.
package spec
