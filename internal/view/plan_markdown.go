package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// MarkdownLimit is the most characters PlanMarkdown writes: GitHub refuses
// comments over 65,536, and Azure DevOps threads are smaller still in practice.
const MarkdownLimit = 65000

// MarkdownMarker starts every plan comment, so CI can find and update its one comment.
const MarkdownMarker = "<!-- tlreconcile-plan -->"

// PlanMarkdown renders a plan as a pull-request comment: a summary line with
// counts, a warning block when anything is destructive, restarts a VM or is
// blocked, a table of changed resources, each change's steps inside
// <details>, and the findings. It never writes more than MarkdownLimit
// characters: whole sections are cut from the end and a note says what was cut.
func PlanMarkdown(w io.Writer, p *plan.Plan) error {
	_, err := io.WriteString(w, planMarkdown(p, MarkdownLimit))
	return err
}

func planMarkdown(p *plan.Plan, limit int) string {
	var head strings.Builder
	head.WriteString(MarkdownMarker + "\n")
	head.WriteString("### tlreconcile plan\n\n")
	line := summaryLine(p)
	if p.Summary.Noop > 0 {
		line += fmt.Sprintf(" %d unchanged.", p.Summary.Noop)
	}
	fmt.Fprintf(&head, "**%s**\n\n", line)
	head.WriteString(mdEscape(observedLine(p)) + "\n\n")
	if warn := markdownWarnings(p); warn != "" {
		head.WriteString(warn + "\n")
	}
	if len(p.Changes) == 0 {
		head.WriteString("No changes: the clusters match the YAML.\n\n")
	}

	// Fill the space by priority: the table rows, then the findings, then the
	// step details in plan order; whatever does not fit is cut whole and named
	// in a note. Sections are rendered only while there is room, so a
	// 10,000-VM plan costs little more than what is shown.
	budget := limit - head.Len() - markdownNoteReserve
	tableHead := "| Resource | Cluster | Action | Restart? | Reasons |\n|---|---|---|---|---|\n"
	var rows []string
	if len(p.Changes) > 0 {
		budget -= len(tableHead) + 1
		for _, c := range p.Changes {
			r := markdownRow(c)
			if len(r) > budget {
				break
			}
			budget -= len(r)
			rows = append(rows, r)
		}
	}
	findings := markdownFindings(p)
	keepFindings := len(rows) == len(p.Changes) && len(findings) <= budget
	if keepFindings {
		budget -= len(findings)
	}
	var details []string
	if len(rows) == len(p.Changes) {
		for _, c := range p.Changes {
			d := markdownDetails(c)
			if len(d) > budget {
				break
			}
			budget -= len(d)
			details = append(details, d)
		}
	}
	return assembleMarkdown(head.String(), tableHead, rows, details, findings, keepFindings, len(p.Changes), len(p.Changes), len(p.Findings))
}

func markdownRow(c plan.Change) string {
	restart := "no"
	if changeRestarts(c) {
		restart = "**yes**"
	}
	reasons := c.Reasons
	if len(reasons) == 0 {
		for _, s := range c.Steps {
			reasons = append(reasons, s.Reason)
		}
	}
	esc := make([]string, len(reasons))
	for i, r := range reasons {
		esc[i] = mdEscape(r)
	}
	action := string(c.Action)
	if changeBlocked(c) != "" {
		action += " (blocked)"
	}
	return fmt.Sprintf("| `%s` | %s | %s %s | %s | %s |\n", mdCode(c.Resource), mdEscape(c.Cluster), actionSymbol(c.Action), action, restart, strings.Join(esc, "<br>"))
}

func markdownDetails(c plan.Change) string {
	var d strings.Builder
	fmt.Fprintf(&d, "<details><summary>%s <code>%s</code> — %s, %d step(s)</summary>\n\n", actionSymbol(c.Action), mdEscape(c.Resource), c.Action, len(c.Steps))
	d.WriteString("| # | Step | Reason | Flags |\n|---|---|---|---|\n")
	for i, s := range c.Steps {
		var flags []string
		if s.RequiresPowerOff {
			flags = append(flags, "needs Off")
		}
		for _, warn := range stepWarnings(s) {
			flags = append(flags, "⚠ "+mdEscape(warn))
		}
		if deps := extraDeps(c.Steps, i); len(deps) > 0 {
			flags = append(flags, "after "+mdEscape(strings.Join(deps, ", ")))
		}
		fmt.Fprintf(&d, "| %d | `%s` | %s | %s |\n", i+1, s.Kind, mdEscape(s.Reason), strings.Join(flags, "<br>"))
	}
	d.WriteString("\n</details>\n")
	return d.String()
}

func markdownFindings(p *plan.Plan) string {
	if len(p.Findings) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n#### Findings\n\n| Severity | Resource | Rule | Message |\n|---|---|---|---|\n")
	for _, f := range p.Findings {
		fmt.Fprintf(&b, "| %s %s | `%s` | `%s` | %s |\n", findingMark(f.Severity), f.Severity, mdCode(f.Resource), f.Rule, mdEscape(f.Message))
	}
	return b.String()
}

// markdownNoteReserve is room kept for the note that says what was cut.
const markdownNoteReserve = 400

// markdownWarnings is the warning block: destructive, disruptive (VM restarts) and blocked changes.
func markdownWarnings(p *plan.Plan) string {
	var destructive, restarts, blocked []string
	for _, c := range p.Changes {
		if changeDestructive(c) {
			destructive = append(destructive, "`"+mdCode(c.Resource)+"`")
		}
		if changeRestarts(c) {
			restarts = append(restarts, "`"+mdCode(c.Resource)+"`")
		}
		if why := changeBlocked(c); why != "" {
			blocked = append(blocked, "`"+mdCode(c.Resource)+"` ("+mdEscape(why)+")")
		}
	}
	if len(destructive)+len(restarts)+len(blocked) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("> [!WARNING]\n")
	if len(destructive) > 0 {
		fmt.Fprintf(&b, "> - **Destructive** (vTPM secrets or the VM are lost; apply needs `--allow-destructive`): %s\n", firstFew(destructive, ", "))
	}
	if len(restarts) > 0 {
		fmt.Fprintf(&b, "> - **Disruptive** (the VM stops or restarts): %s\n", firstFew(restarts, ", "))
	}
	if len(blocked) > 0 {
		fmt.Fprintf(&b, "> - **Blocked** (apply skips these until the cause is fixed): %s\n", firstFew(blocked, "; "))
	}
	return b.String()
}

// warningListMax bounds each warning list, so the head of a huge plan stays small.
const warningListMax = 20

func firstFew(items []string, sep string) string {
	if len(items) <= warningListMax {
		return strings.Join(items, sep)
	}
	return strings.Join(items[:warningListMax], sep) + fmt.Sprintf("%sand %d more (see the table)", sep, len(items)-warningListMax)
}

// mdEscape makes text safe inside a Markdown table cell and against HTML injection.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "&", "&amp;", "`", "'").Replace(s)
}

// mdCode makes text safe inside backticks in a table cell.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s)
}

func assembleMarkdown(head, tableHead string, rows, details []string, findings string, keepFindings bool, allRows, allDetails, allFindings int) string {
	var b strings.Builder
	b.WriteString(head)
	if allRows > 0 {
		b.WriteString(tableHead)
		for _, r := range rows {
			b.WriteString(r)
		}
		b.WriteString("\n")
	}
	for _, d := range details {
		b.WriteString(d)
	}
	if keepFindings {
		b.WriteString(findings)
	}
	var cut []string
	if n := allRows - len(rows); n > 0 {
		cut = append(cut, fmt.Sprintf("%d of %d table rows", n, allRows))
	}
	if n := allDetails - len(details); n > 0 {
		cut = append(cut, fmt.Sprintf("the step details of %d of %d changes", n, allDetails))
	}
	if !keepFindings && allFindings > 0 {
		cut = append(cut, fmt.Sprintf("all %d findings", allFindings))
	}
	if len(cut) > 0 {
		fmt.Fprintf(&b, "\n> [!NOTE]\n> Cut to stay under the %d-character comment limit: %s. Run `tlreconcile plan` or download the plan artifact to see everything.\n", MarkdownLimit, strings.Join(cut, ", "))
	}
	return b.String()
}
