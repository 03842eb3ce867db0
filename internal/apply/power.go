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
// interrupt, unless the failed step makes that unsafe; res.Power says which.
func (r *runner) restorePower(ctx context.Context, c *plan.Change, res *ResourceResult, failed drivers.OpKind) {
	ev := Event{Kind: EventPowerRestore, Resource: c.Resource, Cluster: c.Cluster, Op: drivers.OpStartVM}
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
		_, err = r.drivers[c.Cluster].Apply(sctx, op)
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
