package view

import (
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// warningGroup is the changes that share one cause of a warning: the op of
// their destructive step, or the code and reason of their block.
type warningGroup struct {
	cause     string
	resources []string
}

// groupedWarnings collects groups in the order their first change appears.
type groupedWarnings struct {
	groups []*warningGroup
	index  map[string]*warningGroup
}

func (g *groupedWarnings) add(key, cause, resource string) {
	if g.index == nil {
		g.index = map[string]*warningGroup{}
	}
	w := g.index[key]
	if w == nil {
		w = &warningGroup{cause: cause}
		g.index[key] = w
		g.groups = append(g.groups, w)
	}
	w.resources = append(w.resources, resource)
}

// all is every resource of every group.
func (g *groupedWarnings) all() []string {
	var out []string
	for _, w := range g.groups {
		out = append(out, w.resources...)
	}
	return out
}

// markdownWarnings is the warning block: destructive, disruptive (VM
// restarts) and blocked changes. Destructive changes are grouped by the op
// that destroys, blocked ones by their block's code and reason, one line
// per group with its count and its first few resources, so that 600 VMs
// blocked for one reason take one line, not 600 repeats of it.
func markdownWarnings(p *plan.Plan) string {
	var destructive, blocked groupedWarnings
	var restarts []string
	for _, c := range p.Changes {
		res := "`" + mdCode(c.Resource) + "`"
		for _, s := range c.Steps {
			if s.Destructive {
				destructive.add(string(s.Kind), "`"+string(s.Kind)+"`", res)
				break
			}
		}
		if changeRestarts(c) {
			restarts = append(restarts, res)
		}
		if s, b := c.Blocker(); b != nil {
			blocked.add(string(b.Code)+"\x00"+string(s.Kind)+"\x00"+b.Reason, "`"+string(s.Kind)+"`: "+mdEscape(b.Reason), res)
		}
	}
	d, r, bl := destructive.all(), restarts, blocked.all()
	if len(d)+len(r)+len(bl) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("> [!WARNING]\n")
	if len(d) > 0 {
		fmt.Fprintf(&b, "> - **Destructive** (vTPM secrets or the VM are lost; apply needs `--allow-destructive`), %s:\n%s", countOf(d), groupLines(destructive.groups))
	}
	if len(r) > 0 {
		fmt.Fprintf(&b, "> - **Disruptive** (the VM stops or restarts), %s: %s\n", countOf(r), firstFew(r))
	}
	if len(bl) > 0 {
		fmt.Fprintf(&b, "> - **Blocked** (apply skips these until the cause is fixed), %s:\n%s", countOf(bl), groupLines(blocked.groups))
	}
	return b.String()
}

// warningGroupsMax bounds the lines of one warning list; warningNamesMax the
// resources named on one line. The head of a huge plan stays small.
const (
	warningGroupsMax = 10
	warningNamesMax  = 10
)

func groupLines(groups []*warningGroup) string {
	var b strings.Builder
	for i, g := range groups {
		if i == warningGroupsMax {
			var rest []string
			for _, g := range groups[i:] {
				rest = append(rest, g.resources...)
			}
			fmt.Fprintf(&b, ">   - %d more causes (%s; see the table)\n", len(groups)-i, countOf(rest))
			break
		}
		fmt.Fprintf(&b, ">   - %s (%s) — %s\n", g.cause, countOf(g.resources), firstFew(g.resources))
	}
	return b.String()
}

// countOf counts rendered resource names: "1 VM", "20 VMs", or "3
// resources" when not all of them are VMs.
func countOf(resources []string) string {
	unit := "VM"
	for _, r := range resources {
		if !strings.HasPrefix(r, "`vm/") {
			unit = "resource"
			break
		}
	}
	if len(resources) == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", len(resources), unit)
}

func firstFew(items []string) string {
	if len(items) <= warningNamesMax {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:warningNamesMax], ", ") + fmt.Sprintf(" and %d more", len(items)-warningNamesMax)
}
