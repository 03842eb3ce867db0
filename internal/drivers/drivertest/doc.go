// Package drivertest is the contract suite every driver must pass (after
// nomad's DriverHarness): the same scenarios and assertions for sim, with both
// vTPM backends, and for hyperv through its fake runner. It owns the
// scenarios and the Harness that adapts a driver to them; it must stay
// generic (no driver-specific types or imports) and must not import plan or
// apply.
package drivertest
