package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// restorePower starts again a VM this change stopped, after a failure or an
// interrupt, unless the step the change ended at says to leave it Off (the
// planner's on_failure decision: a half-done key-protector or TPM change, or
// a reset vTPM whose Secure Boot template is not set yet); res.Power says which.
func (r *runner) restorePower(ctx context.Context, c *plan.Change, res *ResourceResult, then *plan.OnFailure) {
	ev := Event{Kind: EventPowerRestore, Resource: c.Resource, Cluster: c.Cluster, Op: drivers.OpStartVM}
	if then != nil && then.Action == plan.FailureLeaveOff {
		res.Power, res.LeftOff = "left Off: "+then.Reason, true
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
		res.Power = fmt.Sprintf("could not be started again (%v): the plan stopped it; start it by hand (%s) once the cause is fixed", err, startByHand(drivers.ProfileOf(r.drivers[c.Cluster]), vmName(c)))
		res.LeftOff = true
		ev.Error = err.Error()
	} else {
		res.Power = "started again: the plan had stopped it and a later step did not complete"
	}
	ev.Message = res.Power
	r.emit(ev)
}

// startByHand is how an administrator starts vm on the platform of prof: an
// Azure Local VM through ARM (its node's Start-VM would bypass the platform),
// a classic Hyper-V VM with Start-VM on its owner node.
func startByHand(prof drivers.Profile, vm string) string {
	if prof.OrDefault().Protection == drivers.ProtectionGuestStateKey {
		return "az stack-hci-vm start --name " + vm + ", or Start in the Azure portal"
	}
	return "Start-VM " + vm
}
