package apply

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// DestructiveError lists the destructive steps of a plan applied without
// AllowDestructive. Nothing has run when it is returned.
type DestructiveError struct {
	Steps []string // "vm/NAME/STEP-ID", sorted
}

func (e *DestructiveError) Error() string {
	verb := "is"
	if len(e.Steps) > 1 {
		verb = "are"
	}
	return fmt.Sprintf("%s %s destructive: nothing was applied; re-run with --allow-destructive if you mean it (vTPM secrets such as BitLocker keys are lost)",
		strings.Join(e.Steps, ", "), verb)
}

// PlanError says the plan cannot be executed as written (plan.Validate
// refused it). Nothing has run when it is returned.
type PlanError struct {
	Problems []string
}

func (e *PlanError) Error() string {
	return "plan cannot be applied: " + strings.Join(e.Problems, "; ") + ": re-create the plan with `tlreconcile plan`"
}

func isVM(c *plan.Change) bool { return c.Kind() == drivers.KindVM }

// stepName is how a step is named to users: its ID when that already says which
// resource it belongs to, else resource/ID.
func stepName(c *plan.Change, s *plan.Step) string {
	if strings.HasPrefix(s.ID, c.Resource+"/") {
		return s.ID
	}
	return c.Resource + "/" + s.ID
}

// check validates the plan (plan.Validate, which also holds its destructive
// flags against drivers.Op.Destroys) and the destructive guard before any step
// runs, and returns each change's steps in the plan's one order (indexes into
// Change.Steps).
func check(p *plan.Plan, allowDestructive bool) ([][]int, error) {
	if err := plan.Validate(p); err != nil {
		return nil, &PlanError{Problems: []string{err.Error()}}
	}
	ids, err := plan.Order(p)
	if err != nil {
		return nil, &PlanError{Problems: []string{err.Error()}}
	}
	pos := make(map[string]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	var destructive []string
	orders := make([][]int, len(p.Changes))
	for i := range p.Changes {
		c := &p.Changes[i]
		order := make([]int, len(c.Steps))
		for j := range order {
			order[j] = j
		}
		sort.Slice(order, func(a, b int) bool { return pos[c.Steps[order[a]].ID] < pos[c.Steps[order[b]].ID] })
		orders[i] = order
		if _, blocked := c.Blocker(); blocked != nil || allowDestructive {
			continue
		}
		for j := range c.Steps {
			if c.Steps[j].Destructive {
				destructive = append(destructive, stepName(c, &c.Steps[j]))
			}
		}
	}
	if len(destructive) > 0 {
		sort.Strings(destructive)
		return nil, &DestructiveError{Steps: destructive}
	}
	return orders, nil
}

// Check validates p and its destructive guard without running anything, so a
// command can refuse before asking for approval. Run checks the same again.
func Check(p *plan.Plan, allowDestructive bool) error {
	_, err := check(p, allowDestructive)
	return err
}
