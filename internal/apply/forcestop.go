package apply

import "github.com/tlreconcile/tlreconcile/internal/drivers"

// withForceStop passes --allow-force-stop to a stop-vm, on a copy: the plan's
// step is never modified, so the plan's digest and journal stay as planned.
// A graceful stop is escalated to a power-off only with the option (DESIGN §6).
func withForceStop(op drivers.Op, allow bool) drivers.Op {
	if op.Kind != drivers.OpStopVM || !allow {
		return op
	}
	p := drivers.Params{}
	if op.Params != nil {
		p = *op.Params
	}
	p.AllowForceStop = true
	op.Params = &p
	return op
}
