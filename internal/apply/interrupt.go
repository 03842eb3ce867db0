package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// progress is where one running change is, for the interrupt notice.
type progress struct {
	pos       int  // index into the change's order of the step running or next
	finishing bool // inside a reset window: the steps up to start-vm run after an interrupt
	stopped   bool // this change stopped the VM and has not started it yet
}

// leavesOff: the planner decided that a change ending before this step leaves
// the VM Off (a vTPM was reset and its Secure Boot template is not set yet).
// After an interrupt such a step runs anyway, and so does every step up to
// the change's start-vm: stopping in between is what leaves the VM Off.
func leavesOff(d *plan.OnFailure) bool { return d != nil && d.Action == plan.FailureLeaveOff }

// windowCtx is the context the steps of a reset window run with: not
// cancelled by an interrupt, so that the window finishes.
func windowCtx(ctx context.Context, finishing bool) context.Context {
	if finishing {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// track records the progress of report slot k (nil: the change ended).
func (r *runner) track(k int, p *progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p == nil {
		delete(r.active, k)
		return
	}
	r.active[k] = *p
}

// watchInterrupt emits EventInterrupted once when ctx ends before the run
// does; the returned function stops the watch and waits for it.
func (r *runner) watchInterrupt(ctx context.Context) func() {
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			r.emit(Event{Kind: EventInterrupted, Message: r.waitingFor()})
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-watched
	}
}

// InterruptAgain is how the interrupt notice ends: what a second interrupt does.
const InterruptAgain = "interrupt again (Ctrl-C, SIGINT or SIGTERM) to abort at once: steps in flight are then cut off and a VM this run stopped may stay Off"

// waitingFor says, after an interrupt, what the run still waits for: the
// running step of each change, the rest of a reset window, and the power
// restore of a VM the plan stopped.
func (r *runner) waitingFor() string {
	r.mu.Lock()
	var parts []string
	for k, p := range r.active {
		parts = append(parts, r.describe(k, p))
	}
	r.mu.Unlock()
	sort.Strings(parts)
	if len(parts) == 0 {
		return "interrupted: no new steps start; nothing is running; " + InterruptAgain
	}
	return "interrupted: no new steps start; waiting for " + strings.Join(parts, "; ") + "; " + InterruptAgain
}

// describe is what change k still does after an interrupt, at progress p.
func (r *runner) describe(k int, p progress) string {
	c := &r.plan.Changes[r.slot[k]]
	order := r.orders[r.slot[k]]
	if p.pos >= len(order) {
		if p.stopped {
			return c.Resource + " to have its power restored as the plan says (the plan stopped it)"
		}
		return c.Resource + " to be verified"
	}
	s := &c.Steps[order[p.pos]]
	b := stepName(c, s)
	var more []string
	finishing := p.finishing
	for _, j := range order[p.pos+1:] {
		n := &c.Steps[j]
		finishing = finishing || leavesOff(n.OnNotRun)
		if !finishing {
			break
		}
		more = append(more, string(n.Kind))
		if n.Kind == drivers.OpStartVM {
			break
		}
	}
	switch {
	case len(more) > 0:
		b += fmt.Sprintf(", then %s: its vTPM was reset, and stopping before its Secure Boot template is set and it is started would leave it Off", strings.Join(more, ", "))
	case (p.stopped || s.Kind == drivers.OpStopVM) && s.Kind != drivers.OpStartVM:
		b += ", then its power is restored as the plan says (the plan stopped it)"
	}
	return b
}
