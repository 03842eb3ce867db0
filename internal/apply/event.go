package apply

import (
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// EventKind names what happened; these strings appear in JSON event output.
type EventKind string

// Event kinds, in the order a run emits them. A plan without changes still
// emits run-started (Steps 0) and run-finished (a Report without resources),
// both with the Message NoChangesMessage.
const (
	EventRunStarted   EventKind = "run-started"   // Message: what the run will do; Steps: how many steps it holds
	EventStepStarted  EventKind = "step-started"  // a step's first attempt begins
	EventStepRetrying EventKind = "step-retrying" // a transient error; Attempt is the attempt that failed, Delay the wait
	EventStepDone     EventKind = "step-done"
	EventStepFailed   EventKind = "step-failed"
	EventStepSkipped  EventKind = "step-skipped"  // not run: Message says why (dependency failed, cancelled, blocked)
	EventVerified     EventKind = "verified"      // a VM was re-observed and matches the plan's Expect
	EventVerifyFailed EventKind = "verify-failed" // a VM was re-observed and does not match
	EventPowerRestore EventKind = "power-restore" // the VM the plan stopped was started again (or why not)
	// EventInterrupted: the run's context ended (the first SIGINT or SIGTERM);
	// Message says what the run still waits for: the running steps, the
	// rest of a vTPM reset's window, the power restores. Emitted once, before
	// run-finished.
	EventInterrupted EventKind = "interrupted"
	EventRunFinished EventKind = "run-finished" // Report holds the per-resource results
)

// Event is one entry of the apply event stream. The executor calls
// Options.Events with one event at a time, never concurrently.
type Event struct {
	Time     time.Time      `json:"time"`
	Kind     EventKind      `json:"kind"`
	Resource string         `json:"resource,omitempty"`
	Cluster  string         `json:"cluster,omitempty"`
	StepID   string         `json:"step,omitempty"`
	Op       drivers.OpKind `json:"op,omitempty"`
	Attempt  int            `json:"attempt,omitempty"`
	Delay    time.Duration  `json:"delay_ns,omitempty"`
	Elapsed  time.Duration  `json:"elapsed_ns,omitempty"`
	Changed  bool           `json:"changed,omitempty"`
	Error    string         `json:"error,omitempty"`
	Message  string         `json:"message,omitempty"`
	Report   *Report        `json:"report,omitempty"`
	// Steps lets a progress view count without the plan: on run-started, the
	// number of steps in the run; on a skipped or failed event without a
	// StepID (a whole resource blocked, skipped or refused), the number of
	// that resource's steps it settles.
	Steps int `json:"steps,omitempty"`
}
