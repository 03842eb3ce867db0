package watch

import (
	"time"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// Status is the JSON document of /status: what the watcher reads, what it acts
// on and what its last run did. Lists are [] when empty, never null.
type Status struct {
	Dir           string `json:"dir"`
	Mode          Mode   `json:"mode"`
	Ready         bool   `json:"ready"`
	FolderMissing bool   `json:"folder_missing"`
	Running       bool   `json:"running"`
	// Pending is the trigger of the follow-up run queued behind the running one.
	Pending Trigger `json:"pending,omitempty"`
	Runs    int     `json:"runs"`
	// Coalesced counts triggers that arrived during a run and were folded into
	// its single follow-up run.
	Coalesced   int         `json:"coalesced"`
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
}

func (s Status) clone() Status {
	c := s
	c.Input.Files = append([]string{}, s.Input.Files...)
	c.Input.Diagnostics = append([]Diagnostic{}, s.Input.Diagnostics...)
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
