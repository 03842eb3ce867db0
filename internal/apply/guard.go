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
	// Off explains each VM of those steps that is Off because an interrupted
	// apply stopped it (Session.Check fills it from the journal).
	Off []string
}

func (e *DestructiveError) Error() string {
	verb := "is"
	if len(e.Steps) > 1 {
		verb = "are"
	}
	msg := fmt.Sprintf("%s %s destructive: nothing was applied; re-run with --allow-destructive if you mean it (vTPM secrets such as BitLocker keys are lost)",
		strings.Join(e.Steps, ", "), verb)
	for _, off := range e.Off {
		msg += "\n  " + off
	}
	return msg
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

// GuardError lists the VMs a plan may not touch as it stands, judged per VM
// across the whole plan against an observation. Nothing has run when it is
// returned.
type GuardError struct {
	Problems []string
}

func (e *GuardError) Error() string {
	return "plan refused, nothing was applied:\n  " + strings.Join(e.Problems, "\n  ") + "\nmake and review the plan again with `tlreconcile plan`"
}

// guardVMs checks every VM any step of p acts on, across all of p's changes
// (so that one change cannot release what another destroys): a VM that
// exists must be managed by tlreconcile (an unmanaged VM is never touched,
// not even adopted), one that does not exist may only be created, and a VM
// with a destructive step anywhere in the plan must not be protected, neither
// as recorded on it nor in the desired state the plan was made from.
func guardVMs(p *plan.Plan, observed map[string]*drivers.Observed) error {
	desiredProtect := map[string]bool{}
	if d := p.Inputs.Desired; d != nil {
		for _, v := range d.VMs {
			desiredProtect[drivers.VMResource(v.Cluster, v.Name).Key()] = v.Protect
		}
	}
	var problems []string
	seen := map[string]bool{}
	for i := range p.Changes {
		c := &p.Changes[i]
		if _, blocked := c.Blocker(); !isVM(c) || len(c.Steps) == 0 || blocked != nil || seen[c.Address().Key()] {
			continue // a blocked change runs nothing
		}
		seen[c.Address().Key()] = true
		vm := observedVM(observed, c.Cluster, c.Address().Name)
		if why := guardVM(p, c, vm, desiredProtect[c.Address().Key()]); why != "" {
			problems = append(problems, c.Resource+": "+why)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return &GuardError{Problems: problems}
	}
	return nil
}

// guardVM says why the plan's steps on one VM may not run ("" when they may).
func guardVM(p *plan.Plan, c *plan.Change, vm *drivers.VM, desiredProtect bool) string {
	destructive := ""
	for _, cc := range p.Changes {
		if cc.Address() != c.Address() {
			continue
		}
		for _, s := range cc.Steps {
			if s.Destructive && destructive == "" {
				destructive = s.ID
			}
		}
	}
	switch {
	case vm == nil && c.Steps[0].Kind != drivers.OpCreateVM:
		return fmt.Sprintf("the VM does not exist, and the plan's first step on it is %s, not create-vm", c.Steps[0].ID)
	case vm == nil:
		return ""
	case vm.Annotations == nil || vm.Annotations.ManagedBy != drivers.ManagedBy:
		return "the VM exists and is not managed by tlreconcile (no tlreconcile annotations): it is never changed, and never adopted"
	case destructive != "" && vm.Annotations.Protect:
		return fmt.Sprintf("%s is destructive and the VM is protected (protect: true is recorded on it): set protect: false in the YAML and apply that first, then plan again", destructive)
	case destructive != "" && desiredProtect:
		return fmt.Sprintf("%s is destructive and the desired state the plan was made from says protect: true", destructive)
	}
	return ""
}

func observedVM(observed map[string]*drivers.Observed, cluster, name string) *drivers.VM {
	o := observed[cluster]
	if o == nil {
		return nil
	}
	for i := range o.VMs {
		if o.VMs[i].Name == name {
			return &o.VMs[i]
		}
	}
	return nil
}
