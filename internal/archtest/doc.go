// Package archtest holds tests, and only tests, that lock the shape of the
// repository: the import layering of DESIGN §2 (cmd → watch → apply → plan →
// drivers, spec → schema; view only reads types; drivers, spec and vtpm never
// import upward) and the size of functions (at most 80 lines and cyclomatic
// complexity 25, counted as gocyclo counts). It reads the source with
// go/parser and must not be imported by anything; it owns no code that ships.
package archtest
