package apply

import (
	"errors"
	"fmt"
	"sort"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// Check is the package's Check, told what the journal knows: when p is
// refused for its destructive steps and a VM those steps belong to is Off
// because an interrupted apply stopped it (a journaled stop-vm without a
// start-vm after it), the DestructiveError says so and what to run, instead
// of leaving the VM Off with only "nothing was applied".
func (s *Session) Check(p *plan.Plan, allowDestructive bool) error {
	err := Check(p, allowDestructive)
	var de *DestructiveError
	if !errors.As(err, &de) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	de.Off = stoppedByInterruptedRun(s.entries, p, s.observed)
	return err
}

// stoppedByInterruptedRun explains, for each VM of p with a destructive step
// that is Off now and that the journal's run stopped without starting it
// again, why it is Off and what to do; in plan order.
func stoppedByInterruptedRun(entries []Entry, p *plan.Plan, observed map[string]*drivers.Observed) []string {
	type stop struct {
		run   string
		reset bool // an identity-changing step began after the stop
	}
	stopped := map[string]*stop{} // cluster + "\x00" + resource
	for _, e := range entries {
		key := e.Cluster + "\x00" + e.Resource
		switch {
		case e.Op == drivers.OpStopVM && !e.Pending:
			stopped[key] = &stop{run: e.Run}
		case e.Op == drivers.OpStartVM && !e.Pending, e.Op == drivers.OpDeleteVM:
			delete(stopped, key)
		case e.IdentityChange && stopped[key] != nil:
			stopped[key].reset = true
		}
	}
	var out []string
	for i := range p.Changes {
		c := &p.Changes[i]
		st := stopped[c.Cluster+"\x00"+c.Resource]
		if st == nil || !isVM(c) || !hasDestructive(c) || !observedOff(observed[c.Cluster], vmName(c)) {
			continue
		}
		msg := fmt.Sprintf("%s is Off because the interrupted apply (run %s) stopped it for its destructive change and did not get to start it again; re-run that apply with --allow-destructive to finish the change and start it", c.Resource, st.run)
		if st.reset {
			msg += "; its vTPM reset had begun, so do not start it by hand: it would boot the new vTPM with the old Secure Boot template and lock it in"
		} else {
			var prof drivers.Profile
			if o := observed[c.Cluster]; o != nil {
				prof = o.Profile
			}
			msg += fmt.Sprintf("; or, to keep its vTPM as it is, start it by hand (%s) and leave the change to a later apply", startByHand(prof, vmName(c)))
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

func hasDestructive(c *plan.Change) bool {
	for i := range c.Steps {
		if c.Steps[i].Destructive {
			return true
		}
	}
	return false
}

func observedOff(o *drivers.Observed, name string) bool {
	if o == nil {
		return false
	}
	for i := range o.VMs {
		if o.VMs[i].Name == name {
			return o.VMs[i].Power == drivers.PowerOff
		}
	}
	return false
}
