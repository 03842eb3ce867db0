package view

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// PlanText renders a plan for a terminal: where the observation came from, a
// legend, one block per changed resource (sorted as the plan is) with its
// reasons and numbered steps, ⚠ lines for destructive, disruptive and blocked
// steps, the findings, and the summary line.
func PlanText(w io.Writer, p *plan.Plan, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	// Written as it is rendered: the text of a 10,000-VM plan is about 9 MB.
	b := bufio.NewWriterSize(w, 64<<10)
	b.WriteString(observedLine(p) + "\n\n")
	if t := targetsLine(p); t != "" {
		b.WriteString(paint(ansiYellow, "⚠ "+t) + "\n\n")
	}
	if len(p.Changes) == 0 {
		b.WriteString("No changes: the clusters match the YAML.\n\n")
	} else {
		fmt.Fprintf(b, "Legend: %s create, %s update, %s replace, %s delete, %s destructive, disruptive or blocked\n\n",
			paint(ansiGreen, "+"), paint(ansiYellow, "~"), paint(ansiRed, "-/+"), paint(ansiRed, "-"), paint(ansiYellow, "⚠"))
	}
	for _, c := range p.Changes {
		fmt.Fprintf(b, "%s %s (cluster %s) will be %s\n", paint(actionColor(c.Action), actionSymbol(c.Action)), paint(ansiBold, c.Resource), c.Cluster, actionWords(c.Action))
		for _, r := range c.Reasons {
			fmt.Fprintf(b, "    # %s\n", r)
		}
		width := 0
		for _, s := range c.Steps {
			width = max(width, len(s.Kind))
		}
		for i, s := range c.Steps {
			fmt.Fprintf(b, "    %2d. %-*s  %s\n", i+1, width, s.Kind, s.Reason)
			if deps := extraDeps(c.Steps, i); len(deps) > 0 {
				fmt.Fprintf(b, "        after %s\n", strings.Join(deps, ", "))
			}
			for _, warn := range stepWarnings(s) {
				code := ansiYellow
				if s.Blocked != nil || s.Destructive {
					code = ansiRed
				}
				fmt.Fprintf(b, "        %s\n", paint(code, "⚠ "+warn))
			}
		}
		b.WriteString("\n")
	}
	if len(p.Findings) > 0 {
		b.WriteString(paint(ansiBold, "Findings:") + "\n")
		for _, f := range p.Findings {
			code := ansiCyan
			switch f.Severity {
			case plan.SeverityError:
				code = ansiRed
			case plan.SeverityWarning:
				code = ansiYellow
			}
			fmt.Fprintf(b, "  %s [%s] %s\n", paint(code, findingMark(f.Severity)+" "+string(f.Severity)), f.Rule, f.Message)
		}
		b.WriteString("\n")
	}
	line := summaryLine(p)
	if p.Summary.Noop > 0 {
		line += fmt.Sprintf(" %d unchanged.", p.Summary.Noop)
	}
	if len(p.Targets) > 0 {
		line += " (partial: --target)"
	}
	b.WriteString(paint(ansiBold, line) + "\n")
	return b.Flush()
}

func actionWords(a plan.Action) string {
	switch a {
	case plan.ActionCreate:
		return "created"
	case plan.ActionUpdate:
		return "updated in place"
	case plan.ActionReplace:
		return "replaced (deleted, then created again)"
	case plan.ActionDelete:
		return "deleted"
	}
	return "left alone"
}
