package view

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
)

// ANSI colours for event lines; used only when the caller says colour is allowed.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// EventsText returns an apply event sink that writes one plain progress line
// per event ("15:04:05 vm/a: stop-vm done (1.2s)") and, at the end of the run,
// a per-resource result table and a summary line. Write errors are ignored
// because progress must never stop a run.
func EventsText(w io.Writer, color bool) func(apply.Event) {
	return EventsTextWith(w, EventsTextOptions{Color: color})
}

// EventsTextOptions steer the text event view.
type EventsTextOptions struct {
	// Color allows ANSI colour in event lines and the progress bar.
	Color bool
	// Live keeps a progress bar as the last line, redrawn in place with
	// carriage return and erase-line, and removed before the results table.
	// The caller sets it only for a terminal: a log file would keep every frame.
	Live bool
	// Width is the terminal's width in columns; a bar line that would wrap
	// (and so could not be erased in place) is shortened (0: never shortened).
	Width int
	// Refresh is how often the bar's elapsed time is redrawn while no event
	// arrives, so a long step does not look hung (0: every 100ms; negative:
	// only on events, as golden tests want).
	Refresh time.Duration
	// Now is the clock of those redraws (nil: time.Now); event redraws use
	// the event's own time.
	Now func() time.Time
}

// EventsTextWith is EventsText with options, such as the live progress bar.
// The sink may be called from several goroutines; it serialises its writes.
func EventsTextWith(w io.Writer, o EventsTextOptions) func(apply.Event) {
	paint := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + ansiReset
	}
	if o.Live {
		return newProgress(w, o, paint).event
	}
	var mu sync.Mutex
	return func(e apply.Event) {
		line := eventText(e, paint)
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, line)
	}
}

// eventText is the text of one event: a line, or the results table.
func eventText(e apply.Event, paint func(string, string) string) string {
	var b strings.Builder
	ts := e.Time.Format("15:04:05")
	target := e.Resource
	switch {
	case e.StepID == "":
	case strings.HasPrefix(e.StepID, e.Resource+"/"):
		target = e.StepID // planner ids already name the resource: vm/avd-01/stop-vm
	default:
		target += " " + e.StepID
	}
	switch e.Kind {
	case apply.EventRunStarted:
		fmt.Fprintf(&b, "%s %s %s\n", ts, paint(ansiBold, "apply:"), e.Message)
	case apply.EventStepStarted:
		fmt.Fprintf(&b, "%s %s: started\n", ts, target)
	case apply.EventStepDone:
		what := "done"
		if !e.Changed {
			what = "done (already so)"
		}
		fmt.Fprintf(&b, "%s %s: %s%s%s\n", ts, target, paint(ansiGreen, what), attempts(e.Attempt), elapsed(e.Elapsed))
	case apply.EventStepRetrying:
		fmt.Fprintf(&b, "%s %s: %s in %s after attempt %d: %s\n", ts, target, paint(ansiYellow, "retrying"), dur(e.Delay), e.Attempt, e.Error)
	case apply.EventStepFailed:
		fmt.Fprintf(&b, "%s %s: %s%s%s: %s\n", ts, target, paint(ansiRed, "failed"), attempts(e.Attempt), elapsed(e.Elapsed), e.Error)
	case apply.EventStepSkipped:
		fmt.Fprintf(&b, "%s %s: %s: %s\n", ts, target, paint(ansiYellow, "skipped"), e.Message)
	case apply.EventVerified:
		fmt.Fprintf(&b, "%s %s: %s\n", ts, target, paint(ansiGreen, "verified"))
	case apply.EventVerifyFailed:
		fmt.Fprintf(&b, "%s %s: %s: %s\n", ts, target, paint(ansiRed, "verify failed"), e.Error)
	case apply.EventPowerRestore:
		fmt.Fprintf(&b, "%s %s: %s %s\n", ts, target, paint(ansiCyan, "power:"), e.Message)
	case apply.EventRunFinished:
		writeReport(&b, e, paint)
	default:
		fmt.Fprintf(&b, "%s %s: %s %s\n", ts, target, e.Kind, e.Message)
	}
	return b.String()
}

func writeReport(b *strings.Builder, e apply.Event, paint func(string, string) string) {
	r := e.Report
	if r == nil {
		fmt.Fprintf(b, "%s apply finished%s\n", e.Time.Format("15:04:05"), elapsed(e.Elapsed))
		return
	}
	fmt.Fprintf(b, "\nApply results%s:\n", elapsed(e.Elapsed))
	width := 0
	for _, res := range r.Resources {
		width = max(width, len(res.Resource))
	}
	for _, res := range r.Resources {
		mark, code := "?", ""
		switch res.Status {
		case apply.StatusSucceeded:
			mark, code = "✓", ansiGreen
		case apply.StatusFailed:
			mark, code = "✗", ansiRed
		case apply.StatusSkipped:
			mark, code = "-", ansiYellow
		case apply.StatusBlocked:
			mark, code = "!", ansiYellow
		}
		done := 0
		for _, s := range res.Steps {
			if s.Status == apply.StatusSucceeded {
				done++
			}
		}
		fmt.Fprintf(b, "  %s %-*s  %-7s  %s  %d/%d steps", paint(code, mark), width, res.Resource, res.Action, paint(code, string(res.Status)), done, len(res.Steps))
		if res.Reason != "" {
			fmt.Fprintf(b, ": %s", res.Reason)
		}
		b.WriteString("\n")
		if res.Power != "" {
			fmt.Fprintf(b, "      power: %s\n", res.Power)
		}
	}
	c := r.Counts
	line := fmt.Sprintf("Apply: %d succeeded, %d failed, %d skipped, %d blocked.", c.Succeeded, c.Failed, c.Skipped, c.Blocked)
	if r.Cancelled {
		line += " Interrupted: re-run apply to finish."
	}
	code := ansiGreen
	if r.Failed() {
		code = ansiRed
	}
	fmt.Fprintf(b, "%s\n", paint(ansiBold+code, line))
}

func attempts(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" after %d attempts", n)
}

func elapsed(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return " (" + dur(d) + ")"
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// EventsJSON returns an apply event sink that writes each event as one JSON
// object per line, for CI logs; durations are integer nanoseconds (elapsed_ns,
// delay_ns) and the run-finished event carries the whole report.
func EventsJSON(w io.Writer) func(apply.Event) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(e apply.Event) {
		_ = enc.Encode(e)
	}
}
