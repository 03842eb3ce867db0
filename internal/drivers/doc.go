// Package drivers owns the contract between tlreconcile and a platform: the
// Driver interface, the observed-state model (Observed, Node, VM,
// Annotations), the closed set of ops and their Params, the sentinel errors
// with the Transient marker, and the Registry that maps a Cluster's
// spec.driver to a factory. The contract suite every driver must pass lives in
// drivers/drivertest. This package holds types only: it must not decide what
// to change (that is plan), run anything (that is apply), or import either.
package drivers
