package view

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// FormatMarkdown is the pull-request comment format of plans.
const FormatMarkdown = "markdown"

// Plan renders p in one format: text, json or markdown. color applies to text only.
func Plan(w io.Writer, format string, p *plan.Plan, color bool) error {
	switch format {
	case FormatText, "":
		return PlanText(w, p, color)
	case FormatJSON:
		return PlanJSON(w, p)
	case FormatMarkdown:
		return PlanMarkdown(w, p)
	}
	return fmt.Errorf("format %q: unknown; use text, json or markdown", format)
}

// PlanJSON writes the plan JSON contract (DESIGN §5), the same document as a plan file.
func PlanJSON(w io.Writer, p *plan.Plan) error { return plan.WriteJSON(w, p) }

// actionSymbol is the terraform-style marker of an action.
func actionSymbol(a plan.Action) string {
	switch a {
	case plan.ActionCreate:
		return "+"
	case plan.ActionUpdate:
		return "~"
	case plan.ActionReplace:
		return "-/+"
	case plan.ActionDelete:
		return "-"
	}
	return " "
}

func actionColor(a plan.Action) string {
	switch a {
	case plan.ActionCreate:
		return ansiGreen
	case plan.ActionUpdate:
		return ansiYellow
	default:
		return ansiRed
	}
}

// summaryLine is the one line every plan view ends or starts with.
func summaryLine(p *plan.Plan) string {
	s := p.Summary
	return fmt.Sprintf("Plan: %d to create, %d to update, %d to replace, %d to delete; %d blocked.", s.Create, s.Update, s.Replace, s.Delete, s.Blocked)
}

// observedLine says where the observation came from and how old it was when planned.
func observedLine(p *plan.Plan) string {
	at := "at an unknown time"
	if !p.ObservedAt.IsZero() {
		at = "at " + p.ObservedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	age := ""
	if !p.PlannedAt.IsZero() && !p.ObservedAt.IsZero() {
		age = ", " + humanAge(p.PlannedAt.Sub(p.ObservedAt)) + " before planning"
	}
	if p.ObservedFile != "" {
		return fmt.Sprintf("Observed state read from %s, observed %s%s: the clusters may have changed since; apply re-observes and refuses the plan if anything moved.", p.ObservedFile, at, age)
	}
	return fmt.Sprintf("Observed live %s%s.", at, age)
}

// targetsListMax bounds the targets targetsLine names, so the notice stays one short line.
const targetsListMax = 10

// targetsLine says that --target made the plan partial, or is "" when it
// covers everything: a reader must not take a targeted plan's "no changes"
// or its counts for the whole of the clusters.
func targetsLine(p *plan.Plan) string {
	if len(p.Targets) == 0 {
		return ""
	}
	names := strings.Join(p.Targets, ", ")
	if n := len(p.Targets); n > targetsListMax {
		names = strings.Join(p.Targets[:targetsListMax], ", ") + fmt.Sprintf(" and %d more", n-targetsListMax)
	}
	return fmt.Sprintf("Partial plan: it covers only the targeted resources (--target %s) and the cluster steps they need; other resources were not planned and may differ from the YAML too, and the counts leave them out. Plan without --target to see everything.", names)
}

func humanAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// changeWarnings are the ⚠ lines of a change: what is destructive, what restarts
// or stops a VM, what is blocked.
func stepWarnings(s plan.Step) []string {
	var w []string
	if s.Blocked != nil {
		w = append(w, "blocked: "+s.Blocked.Reason)
	}
	if s.Destructive {
		w = append(w, "destructive: needs --allow-destructive at apply")
	}
	if s.Disruptive {
		switch s.Kind {
		case "stop-vm":
			w = append(w, "disruptive: the VM stops")
		case "start-vm":
			w = append(w, "disruptive: the VM boots again (restart)")
		default:
			w = append(w, "disruptive")
		}
	}
	return w
}

func changeRestarts(c plan.Change) bool {
	for _, s := range c.Steps {
		if s.Disruptive {
			return true
		}
	}
	return false
}

// changeBlocked names the step whose block keeps the change from running,
// with its reason, or "" (plan.Change.Blocker: the root cause, not a step
// that only waits for it).
func changeBlocked(c plan.Change) string {
	s, b := c.Blocker()
	if b == nil {
		return ""
	}
	return s.ID + ": " + b.Reason
}

// extraDeps are the dependencies a reader cannot see from the step order: those
// on other resources' steps, or not on the step just before.
func extraDeps(steps []plan.Step, i int) []string {
	var out []string
	for _, d := range steps[i].DependsOn {
		if i > 0 && d == steps[i-1].ID {
			continue
		}
		out = append(out, d)
	}
	return out
}

func findingMark(s plan.Severity) string {
	switch s {
	case plan.SeverityError:
		return "✖"
	case plan.SeverityWarning:
		return "⚠"
	}
	return "ℹ"
}
