// Package plan owns the decision of what to change: it diffs desired state
// against observed state and the annotations recorded on each VM, and returns a
// Plan of actions with ordered, guarded steps and findings. It also owns the
// plan file format (Save, Read, Stale) and observation snapshots (ReadObserved,
// WriteObserved). It returns data and never prints or applies an op: rendering
// lives in internal/view, observing and execution in internal/apply's Session.
// It uses drivers' types and never calls a driver.
package plan
