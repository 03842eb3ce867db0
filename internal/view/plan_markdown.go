package view

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// MarkdownLimit is the most characters PlanMarkdown writes: GitHub refuses
// comments over 65,536, and Azure DevOps threads are smaller still in practice.
const MarkdownLimit = 65000

// MarkdownMarker starts every plan comment, so CI can find and update its one comment.
const MarkdownMarker = "<!-- tlreconcile-plan -->"

// PlanArtifact is the name under which the example CI jobs (examples/ci)
// upload the plan file of a pull request's plan; the cut note names it.
const PlanArtifact = "tlreconcile-plan"

// MarkdownOptions are what a plan comment needs besides the plan.
type MarkdownOptions struct {
	// PlanURL is where a reader finds the whole plan (the CI run's
	// artifacts); the note that says what was cut links it. "" names the
	// artifact without a link.
	PlanURL string
}

// PlanMarkdown renders a plan as a pull-request comment (PlanMarkdownWith)
// whose cut note links the artifacts of the CI run it runs in (CIPlanURL).
func PlanMarkdown(w io.Writer, p *plan.Plan) error {
	return PlanMarkdownWith(w, p, MarkdownOptions{PlanURL: CIPlanURL(os.Getenv)})
}

// PlanMarkdownWith renders a plan as a pull-request comment: a summary line
// with counts, a notice when --target made the plan partial, a warning block
// that groups destructive, disruptive and blocked changes by cause with
// counts, a table of changed resources, each change's steps inside
// <details>, and the findings. It never writes more than MarkdownLimit
// characters: table rows, findings and details are cut whole (a change's
// details with it), and a note says how many of each were left out and
// where the whole plan is.
func PlanMarkdownWith(w io.Writer, p *plan.Plan, o MarkdownOptions) error {
	_, err := io.WriteString(w, planMarkdown(p, MarkdownLimit, o))
	return err
}

// CIPlanURL is the page of the CI run that made the plan, where the example
// jobs upload it as the PlanArtifact artifact: TLRECONCILE_PLAN_URL when set,
// else the run page of GitHub Actions or the artifacts page of Azure
// Pipelines, from the variables those systems set for every job; "" outside CI.
func CIPlanURL(getenv func(string) string) string {
	if u := getenv("TLRECONCILE_PLAN_URL"); u != "" {
		return u
	}
	if srv, repo, run := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"); srv != "" && repo != "" && run != "" {
		return strings.TrimSuffix(srv, "/") + "/" + repo + "/actions/runs/" + url.PathEscape(run) + "#artifacts"
	}
	if coll, proj, build := getenv("SYSTEM_COLLECTIONURI"), getenv("SYSTEM_TEAMPROJECT"), getenv("BUILD_BUILDID"); coll != "" && proj != "" && build != "" {
		return strings.TrimSuffix(coll, "/") + "/" + url.PathEscape(proj) + "/_build/results?buildId=" + url.QueryEscape(build) + "&view=artifacts&type=publishedArtifacts"
	}
	return ""
}

// markdownURLMax bounds the link in the cut note; a longer one is left out.
const markdownURLMax = 1000

func planMarkdown(p *plan.Plan, limit int, o MarkdownOptions) string {
	if len(o.PlanURL) > markdownURLMax {
		o.PlanURL = ""
	}
	head := markdownHead(p)
	// Fill the space by priority, each part cut by whole items: the table
	// rows may take half of it, the findings half of what is left, the
	// step details the rest, in plan order. Parts are rendered only while
	// there is room, so a 10,000-VM plan costs little more than what is shown.
	budget := limit - len(head) - markdownNoteReserve - len(o.PlanURL)
	var m markdownParts
	if len(p.Changes) > 0 {
		budget -= len(markdownTableHead) + 1
		m.rows = fill(len(p.Changes), func(i int) string { return markdownRow(p.Changes[i]) }, budget/2)
		budget -= m.rows.used
	}
	if len(p.Findings) > 0 {
		budget -= len(markdownFindingsHead)
		m.findings = fill(len(p.Findings), func(i int) string { return markdownFinding(p.Findings[i]) }, budget/2)
		budget -= m.findings.used
	}
	m.details = fill(len(p.Changes), func(i int) string { return markdownDetails(p.Changes[i]) }, budget)
	return m.assemble(head, len(p.Changes), len(p.Findings), o.PlanURL)
}

// markdownHead is everything above the table: marker, title, summary,
// observation, partial-plan notice, warnings.
func markdownHead(p *plan.Plan) string {
	var head strings.Builder
	head.WriteString(MarkdownMarker + "\n")
	head.WriteString("### tlreconcile plan\n\n")
	line := summaryLine(p)
	if p.Summary.Noop > 0 {
		line += fmt.Sprintf(" %d unchanged.", p.Summary.Noop)
	}
	fmt.Fprintf(&head, "**%s**\n\n", line)
	head.WriteString(mdEscape(observedLine(p)) + "\n\n")
	if t := targetsLine(p); t != "" {
		head.WriteString("> [!IMPORTANT]\n> " + mdEscape(t) + "\n\n")
	}
	if warn := markdownWarnings(p); warn != "" {
		head.WriteString(warn + "\n")
	}
	if len(p.Changes) == 0 {
		head.WriteString("No changes: the clusters match the YAML.\n\n")
	}
	return head.String()
}

const (
	markdownTableHead    = "| Resource | Cluster | Action | Restart? | Reasons |\n|---|---|---|---|---|\n"
	markdownFindingsHead = "\n#### Findings\n\n| Severity | Resource | Rule | Message |\n|---|---|---|---|\n"
)

// kept is the rendered items of one part that fit, from the first on.
type kept struct {
	items []string
	used  int
}

// fill renders items 0..n-1 while they fit in budget and stops at the first
// that does not, so what is shown is always a prefix in plan order.
func fill(n int, render func(int) string, budget int) kept {
	var k kept
	for i := 0; i < n; i++ {
		s := render(i)
		if k.used+len(s) > budget {
			break
		}
		k.used += len(s)
		k.items = append(k.items, s)
	}
	return k
}

type markdownParts struct{ rows, findings, details kept }

func (m markdownParts) assemble(head string, changes, findings int, planURL string) string {
	var b strings.Builder
	b.WriteString(head)
	if changes > 0 {
		b.WriteString(markdownTableHead)
		b.WriteString(strings.Join(m.rows.items, ""))
		b.WriteString("\n")
	}
	b.WriteString(strings.Join(m.details.items, ""))
	if findings > 0 {
		b.WriteString(markdownFindingsHead)
		b.WriteString(strings.Join(m.findings.items, ""))
	}
	var cut []string
	if n := changes - len(m.rows.items); n > 0 {
		cut = append(cut, fmt.Sprintf("%d of %d table rows", n, changes))
	}
	if n := changes - len(m.details.items); n > 0 {
		cut = append(cut, fmt.Sprintf("the step details of %d of %d changes (shown for the first %d)", n, changes, len(m.details.items)))
	}
	if n := findings - len(m.findings.items); n > 0 {
		cut = append(cut, fmt.Sprintf("%d of %d findings", n, findings))
	}
	if len(cut) > 0 {
		where := "the `" + PlanArtifact + "` artifact of this CI run"
		if planURL != "" {
			where = "the [`" + PlanArtifact + "` artifact](" + planURL + ") of this CI run"
		}
		fmt.Fprintf(&b, "\n> [!NOTE]\n> Cut to stay under the %d-character comment limit: %s left out. The whole plan is %s (`plan.json`; `tlreconcile plan` prints the same).\n",
			MarkdownLimit, strings.Join(cut, ", "), where)
	}
	return b.String()
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

func markdownFinding(f plan.Finding) string {
	return fmt.Sprintf("| %s %s | `%s` | `%s` | %s |\n", findingMark(f.Severity), f.Severity, mdCode(f.Resource), f.Rule, mdEscape(f.Message))
}

// markdownNoteReserve is room kept for the note that says what was cut
// (besides its link).
const markdownNoteReserve = 500

// mdEscape makes text safe inside a Markdown table cell and against HTML injection.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "&", "&amp;", "`", "'").Replace(s)
}

// mdCode makes text safe inside backticks in a table cell.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s)
}
