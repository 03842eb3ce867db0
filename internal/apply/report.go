package apply

import (
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// Status is the outcome of one resource or one step; these strings are part of
// the JSON event contract.
type Status string

// Outcomes. A resource is succeeded, failed (Reason says why), skipped (a
// dependency failed or the run was cancelled before it started) or blocked
// (the planner blocked one of its steps; nothing ran).
const (
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped"
	StatusBlocked   Status = "blocked"
)

// Report is what a run actually did, per resource, in plan order. Run returns
// it together with its error, so partial progress is never lost.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Cancelled bool             `json:"cancelled"` // the context ended before every step had a chance to run
	Resources []ResourceResult `json:"resources"`
	Counts    Counts           `json:"counts"`
}

// Counts tallies resources by Status.
type Counts struct {
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	Blocked   int `json:"blocked"`
}

// ResourceResult is one change's outcome.
type ResourceResult struct {
	Resource string      `json:"resource"`
	Cluster  string      `json:"cluster"`
	Action   plan.Action `json:"action"`
	Status   Status      `json:"status"`
	Reason   string      `json:"reason,omitempty"`
	// Power says what happened to the VM's power after a failure: "started again",
	// or why it was left Off. Empty when nothing had to be done.
	Power string `json:"power,omitempty"`
	// LeftOff: the plan stopped this VM and the run ended with it Off (Power
	// says why); apply exits non-zero and names it.
	LeftOff bool `json:"left_off,omitempty"`
	// VTPMIdentity is the identity verified after the change ("" when not checked).
	VTPMIdentity string       `json:"vtpm_identity,omitempty"`
	Steps        []StepResult `json:"steps"`
}

// StepResult is one step's outcome. Steps that never ran have Attempts 0.
type StepResult struct {
	ID       string         `json:"id"`
	Op       drivers.OpKind `json:"op"`
	Status   Status         `json:"status"`
	Attempts int            `json:"attempts"`
	Changed  bool           `json:"changed"`
	Elapsed  time.Duration  `json:"elapsed_ns"`
	Error    string         `json:"error,omitempty"`
}

// Failed reports whether any resource failed; blocked and skipped resources
// alone do not fail a run, but a cancelled run does.
func (r *Report) Failed() bool {
	return r != nil && (r.Counts.Failed > 0 || r.Cancelled)
}

// Result returns the result for resource, or nil.
func (r *Report) Result(resource string) *ResourceResult {
	for i := range r.Resources {
		if r.Resources[i].Resource == resource {
			return &r.Resources[i]
		}
	}
	return nil
}

func (r *Report) count() {
	r.Counts = Counts{}
	for _, res := range r.Resources {
		switch res.Status {
		case StatusSucceeded:
			r.Counts.Succeeded++
		case StatusFailed:
			r.Counts.Failed++
		case StatusSkipped:
			r.Counts.Skipped++
		case StatusBlocked:
			r.Counts.Blocked++
		}
	}
}
