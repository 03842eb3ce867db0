package watch

import (
	"context"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Mode says what a run does with the differences it finds.
type Mode string

// Modes.
const (
	ModeCorrect Mode = "correct" // plan and apply
	ModeDetect  Mode = "detect"  // plan and report drift; change nothing
)

// Trigger says why a run started. Runs are level-based: the trigger is reported,
// never used to decide what to do.
type Trigger string

// Triggers.
const (
	TriggerStartup Trigger = "startup"
	TriggerFiles   Trigger = "files"  // the tree changed (after the debounce)
	TriggerResync  Trigger = "resync" // the periodic --interval
	TriggerSignal  Trigger = "signal" // SIGHUP, or Resync called
	TriggerRetry   Trigger = "retry"  // the previous run failed
)

// Input is one complete read of the tree.
type Input struct {
	// Desired is the whole desired state; nil when the input is invalid.
	Desired *spec.Desired
	// Diagnostics are every problem found, errors and warnings, sorted by file and line.
	Diagnostics []Diagnostic
	// Files are the files read, sorted.
	Files []string
	// Err is set when the tree could not be read at all.
	Err error
}

// Valid reports whether the input may be acted on: read, no error diagnostic.
func (in Input) Valid() bool {
	if in.Err != nil || in.Desired == nil {
		return false
	}
	for _, d := range in.Diagnostics {
		if d.Severity == spec.SeverityError {
			return false
		}
	}
	return true
}

// LoadFunc reads the whole tree under root.
type LoadFunc func(ctx context.Context, root string) Input

// ReconcileFunc brings the clusters to the desired state d (or, in detect mode,
// only reports how far they are). ctx is cancelled at shutdown: the function
// must then stop starting new work but let a running step finish.
type ReconcileFunc func(ctx context.Context, d *spec.Desired, t Trigger) (RunResult, error)

// RunResult is what one reconcile found and did; it may be partly filled when
// the ReconcileFunc also returns an error.
type RunResult struct {
	// Observed is true once every cluster was observed: the watcher is ready.
	Observed bool `json:"observed"`
	// Applied is true when changes were handed to apply (mode correct).
	Applied  bool            `json:"applied"`
	Summary  plan.Summary    `json:"summary"`
	Changes  []ChangeSummary `json:"changes"`  // resources whose action is not noop
	Findings []plan.Finding  `json:"findings"` // the plan's findings
	Steps    []StepOutcome   `json:"-"`        // for metrics
	// LeftOff are the VMs this run stopped and could not start again (apply's
	// ResourceResult.Power "left Off: ..."): watch exits non-zero naming them.
	LeftOff []LeftOff `json:"left_off,omitempty"`
	// Attestations counts the managed VMs by the result of their last
	// attestation (verified, failed, unavailable); nil when nothing was observed.
	Attestations map[string]int `json:"attestations,omitempty"`
}

// LeftOff is a VM a run left powered off, and why.
type LeftOff struct {
	Resource string `json:"resource"`
	Cluster  string `json:"cluster"`
	Power    string `json:"power"`
}

// LeftOffError is what Run returns when the clusters were left with VMs Off
// that the desired state wants running: the stop was clean, the result is not.
type LeftOffError struct{ VMs []LeftOff }

func (e *LeftOffError) Error() string {
	parts := make([]string, 0, len(e.VMs))
	for _, v := range e.VMs {
		parts = append(parts, fmt.Sprintf("%s (cluster %s): %s", v.Resource, v.Cluster, v.Power))
	}
	return fmt.Sprintf("watch: stopped with %d VM(s) left Off by the last run: %s; start them (Start-VM) once safe, or run tlreconcile apply",
		len(e.VMs), strings.Join(parts, "; "))
}

// ChangeSummary is one drifted resource.
type ChangeSummary struct {
	Resource string      `json:"resource"`
	Cluster  string      `json:"cluster"`
	Action   plan.Action `json:"action"`
	Blocked  bool        `json:"blocked,omitempty"`
}

// StepOutcome is the end of one plan step: done, failed or skipped.
type StepOutcome struct {
	Op     drivers.OpKind
	Result string
}
