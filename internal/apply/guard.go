package apply

import (
	"fmt"
	"sort"
	"strings"

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

// PlanError says the plan cannot be executed as written (unknown op, a
// dependency that names no step, a cycle). Nothing has run when it is returned.
type PlanError struct {
	Problems []string
}

func (e *PlanError) Error() string {
	return "plan cannot be applied: " + strings.Join(e.Problems, "; ") + ": re-create the plan with `tlreconcile plan`"
}

func isVM(c *plan.Change) bool { return strings.HasPrefix(c.Resource, "vm/") }

// stepName is how a step is named to users: its ID when that already says which
// resource it belongs to, else resource/ID.
func stepName(c *plan.Change, s *plan.Step) string {
	if strings.HasPrefix(s.ID, c.Resource+"/") {
		return s.ID
	}
	return c.Resource + "/" + s.ID
}

// check validates the plan and the destructive guard before any step runs, and
// returns each change's steps in execution order (indexes into Change.Steps).
func check(p *plan.Plan, allowDestructive bool) ([][]int, error) {
	var problems, destructive []string
	// Steps of cluster-level changes may be depended on by VM changes: they run first.
	clusterSteps := map[string]bool{}
	for i := range p.Changes {
		c := &p.Changes[i]
		if !isVM(c) {
			for _, s := range c.Steps {
				clusterSteps[s.ID] = true
			}
		}
	}
	orders := make([][]int, len(p.Changes))
	for i := range p.Changes {
		c := &p.Changes[i]
		ids := map[string]int{}
		for j, s := range c.Steps {
			if _, dup := ids[s.ID]; dup || s.ID == "" {
				problems = append(problems, fmt.Sprintf("%s: step id %q is empty or used twice", c.Resource, s.ID))
			}
			ids[s.ID] = j
			if !s.Kind.Valid() {
				problems = append(problems, fmt.Sprintf("%s: unknown op %q", stepName(c, &c.Steps[j]), s.Kind))
			}
			// Every check of a change (protect, power restore, verify) is about
			// its own resource: a step must act on that one.
			if s.Cluster != c.Cluster || (isVM(c) && (s.VM != strings.TrimPrefix(c.Resource, "vm/") || s.Node != "")) ||
				(strings.HasPrefix(c.Resource, "node/") && (s.Node != strings.TrimPrefix(c.Resource, "node/") || s.VM != "")) {
				what, name := "vm", s.VM
				if s.VM == "" {
					what, name = "node", s.Node
				}
				problems = append(problems, fmt.Sprintf("%s acts on %s %q in cluster %q, not on %s of cluster %q", stepName(c, &c.Steps[j]), what, name, s.Cluster, c.Resource, c.Cluster))
			}
			for _, d := range s.DependsOn {
				if _, ok := indexOf(c.Steps, d); ok {
					continue
				}
				if isVM(c) && clusterSteps[d] {
					continue
				}
				problems = append(problems, fmt.Sprintf("%s depends on %q, which is not a step of this change or of a cluster change", stepName(c, &c.Steps[j]), d))
			}
			if (s.Destructive || s.Op.Destroys()) && s.Blocked == "" && !allowDestructive && !blockedChange(c) {
				destructive = append(destructive, stepName(c, &c.Steps[j]))
			}
		}
		order, err := topo(c)
		if err != nil {
			problems = append(problems, err.Error())
		}
		orders[i] = order
	}
	if len(problems) > 0 {
		return nil, &PlanError{Problems: problems}
	}
	if len(destructive) > 0 {
		sort.Strings(destructive)
		return nil, &DestructiveError{Steps: destructive}
	}
	return orders, nil
}

// blockedChange reports whether any step of c is blocked: then none of its steps
// runs, because half of a VM's change is worse than none of it.
func blockedChange(c *plan.Change) bool {
	for _, s := range c.Steps {
		if s.Blocked != "" {
			return true
		}
	}
	return false
}

func indexOf(steps []plan.Step, id string) (int, bool) {
	for j, s := range steps {
		if s.ID == id {
			return j, true
		}
	}
	return -1, false
}

// CycleError lists the edges left when a change's steps cannot be ordered.
type CycleError struct {
	Resource string
	Edges    []string // "a -> b": a depends on b
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("%s: steps depend on each other in a cycle (%s)", e.Resource, strings.Join(e.Edges, ", "))
}

// topo orders a change's steps by depends_on (dependencies outside the change
// are ignored here), breaking ties by plan order so execution is deterministic.
func topo(c *plan.Change) ([]int, error) {
	n := len(c.Steps)
	indeg := make([]int, n)
	dependents := make([][]int, n)
	for j, s := range c.Steps {
		for _, d := range s.DependsOn {
			if k, ok := indexOf(c.Steps, d); ok {
				indeg[j]++
				dependents[k] = append(dependents[k], j)
			}
		}
	}
	order := make([]int, 0, n)
	done := make([]bool, n)
	for len(order) < n {
		next := -1
		for j := 0; j < n; j++ {
			if !done[j] && indeg[j] == 0 {
				next = j
				break
			}
		}
		if next < 0 {
			var edges []string
			for j, s := range c.Steps {
				if done[j] {
					continue
				}
				for _, d := range s.DependsOn {
					if k, ok := indexOf(c.Steps, d); ok && !done[k] {
						edges = append(edges, s.ID+" -> "+d)
					}
				}
			}
			return nil, &CycleError{Resource: c.Resource, Edges: edges}
		}
		done[next] = true
		order = append(order, next)
		for _, k := range dependents[next] {
			indeg[k]--
		}
	}
	return order, nil
}

// Check validates p and its destructive guard without running anything, so a
// command can refuse before asking for approval. Run checks the same again.
func Check(p *plan.Plan, allowDestructive bool) error {
	_, err := check(p, allowDestructive)
	return err
}
