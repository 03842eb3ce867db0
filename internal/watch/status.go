package watch

import (
	"fmt"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Status is the JSON document of /status: what the watcher reads, what it acts
// on and what its last run did. Lists are [] when empty, never null.
type Status struct {
	Dir           string `json:"dir"`
	Mode          Mode   `json:"mode"`
	Ready         bool   `json:"ready"`
	FolderMissing bool   `json:"folder_missing"`
	Running       bool   `json:"running"`
	// Waiting says why the last read was not acted on yet: a file still being
	// written, or VMs gone from a file changed in the last seconds.
	Waiting string `json:"waiting,omitempty"`
	// Pending is the trigger of the follow-up run queued behind the running one.
	Pending Trigger `json:"pending,omitempty"`
	Runs    int     `json:"runs"`
	// Coalesced counts triggers that arrived during a run and were folded into
	// its single follow-up run.
	Coalesced int `json:"coalesced"`
	// Failures counts the runs in a row that ended in an error (observe, the
	// journal, plan or apply); a run that succeeds resets it.
	Failures int `json:"consecutive_failures"`
	// LeftOff are the VMs the last run that observed the clusters left Off
	// (apply could not start them again); [] when none.
	LeftOff     []LeftOff   `json:"left_off"`
	Input       InputStatus `json:"input"`
	LastRun     *RunStatus  `json:"last_run"`
	LastSuccess *time.Time  `json:"last_success"`
}

// InputStatus describes the last read of the tree.
type InputStatus struct {
	ReadAt      *time.Time   `json:"read_at"`
	Valid       bool         `json:"valid"`
	Error       string       `json:"error,omitempty"`
	Files       []string     `json:"files"`
	Diagnostics []Diagnostic `json:"diagnostics"`
	// ActingOn is "current" (the files as they are), "last-valid" (the files
	// hold errors, the last valid desired state is used) or "none".
	ActingOn string `json:"acting_on"`
}

// RunStatus is one finished run.
type RunStatus struct {
	Trigger    Trigger         `json:"trigger"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	Seconds    float64         `json:"duration_seconds"`
	Result     string          `json:"result"`
	Error      string          `json:"error,omitempty"`
	Summary    plan.Summary    `json:"summary"`
	Changes    []ChangeSummary `json:"changes"`
	Findings   []plan.Finding  `json:"findings"`
	// Attestations counts the managed VMs by their last attestation's
	// result (verified, failed, unavailable); {} before any observation.
	Attestations map[string]int `json:"attestations"`
}

func (s Status) clone() Status {
	c := s
	c.Input.Files = append([]string{}, s.Input.Files...)
	c.Input.Diagnostics = append([]Diagnostic{}, s.Input.Diagnostics...)
	c.LeftOff = append([]LeftOff{}, s.LeftOff...)
	if s.LastRun != nil {
		r := *s.LastRun
		r.Changes = append([]ChangeSummary{}, r.Changes...)
		r.Findings = append([]plan.Finding{}, r.Findings...)
		c.LastRun = &r
	}
	if s.LastSuccess != nil {
		t := *s.LastSuccess
		c.LastSuccess = &t
	}
	if s.Input.ReadAt != nil {
		t := *s.Input.ReadAt
		c.Input.ReadAt = &t
	}
	return c
}

// notReady says why the watcher is not acting on the current desired state
// ("" when it is): the folder is gone, its files hold errors (a folder without
// YAML included, as validate says), the last run failed, or nothing was
// observed yet.
func (s Status) notReady() string {
	switch {
	case s.FolderMissing:
		return fmt.Sprintf("not ready: the watched folder %s is missing", s.Dir)
	case s.Input.ReadAt != nil && !s.Input.Valid:
		return "not ready: " + inputProblem(s.Input) + "; acting on " + s.Input.ActingOn
	case s.LastRun != nil && s.LastRun.Result == ResultError:
		return "not ready: the last run failed: " + s.LastRun.Error
	case !s.Ready:
		return "not ready: no successful observation yet"
	}
	return ""
}

// unhealthy says why runs cannot proceed ("" while they can): after n failed
// runs in a row a retry is unlikely to fix it (an unreadable journal, a lock
// held for good, a cluster that refuses every call).
func (s Status) unhealthy(n int) string {
	if n <= 0 || s.Failures < n {
		return ""
	}
	msg := fmt.Sprintf("unhealthy: the last %d runs failed", s.Failures)
	if s.LastRun != nil && s.LastRun.Error != "" {
		msg += ": " + s.LastRun.Error
	}
	return msg + "; see the log or /status, fix the cause, then send SIGHUP"
}

func inputProblem(in InputStatus) string {
	if in.Error != "" {
		return "cannot read the desired-state files: " + in.Error
	}
	for _, d := range in.Diagnostics {
		if d.Severity == spec.SeverityError {
			return "the desired-state files hold errors; first: " + d.Error()
		}
	}
	return "no desired state in the files"
}
