package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// unsafeToStart reports whether a VM must stay Off after op failed on it:
// a half-done key-protector or TPM change means that starting the VM would
// initialise its vTPM in a state nobody asked for (a new, empty vTPM locks the
// Secure Boot template and any secret sealed afterwards is bound to it), so a
// person must look first.
func unsafeToStart(op drivers.OpKind) bool {
	switch op {
	case drivers.OpEnsureKeyProtector, drivers.OpEnableTPM, drivers.OpDisableTPM:
		return true
	}
	return false
}

// restorePower starts again a VM this change stopped, after a failure or an
// interrupt, unless the failed step makes that unsafe, or its vTPM was reset
// and the Secure Boot template has not been set since (the first start would
// initialise the new vTPM with the old template and lock it in, so the next
// plan would need a second reset); res.Power says which.
func (r *runner) restorePower(ctx context.Context, c *plan.Change, res *ResourceResult, failed drivers.OpKind, reset bool) {
	ev := Event{Kind: EventPowerRestore, Resource: c.Resource, Cluster: c.Cluster, Op: drivers.OpStartVM}
	if reset && !unsafeToStart(failed) {
		res.Power = "left Off: its vTPM was reset and the Secure Boot template was not set after it; starting the VM now would initialise " +
			"the new vTPM with the old template and lock it in: fix the cause and re-run apply, which sets the template and starts it"
		ev.Message = res.Power
		r.emit(ev)
		return
	}
	if unsafeToStart(failed) {
		res.Power = fmt.Sprintf("left Off: %s failed and starting the VM could initialise its vTPM in an unintended state; "+
			"fix the cause and re-run apply, or start it by hand once its key protector and TPM settings are right", failed)
		ev.Message = res.Power
		r.emit(ev)
		return
	}
	op := drivers.Op{Kind: drivers.OpStartVM, Cluster: c.Cluster, VM: vmName(c)}
	sctx := context.WithoutCancel(ctx)
	var err error
	for attempt := 1; ; attempt++ {
		_, err = r.drivers[c.Cluster].Apply(sctx, r.ref(c.Cluster), op)
		if err == nil || !drivers.IsTransient(err) || attempt >= r.opts.Retry.Attempts {
			break
		}
		time.Sleep(r.opts.Retry.delay(attempt))
	}
	if err != nil {
		res.Power = fmt.Sprintf("could not be started again (%v): the plan stopped it; start it by hand (Start-VM) once the cause is fixed", err)
		ev.Error = err.Error()
	} else {
		res.Power = "started again: the plan had stopped it and a later step did not complete"
	}
	ev.Message = res.Power
	r.emit(ev)
}
