package plan

import (
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// powerWindow is the one stop/start around all of an update's Off-only
// steps, plus the power the YAML wants.
type powerWindow struct {
	power, want drivers.PowerState
	offOps      []string // the Off-only steps' ops, in order
	stop, start bool
}

// newPowerWindow decides whether the VM, now in power, is stopped (for its
// Off-only steps, or because the YAML wants it Off) and started again.
func newPowerWindow(power, want drivers.PowerState, set []setting) powerWindow {
	w := powerWindow{power: power, want: want}
	for _, s := range set {
		if s.planned() && s.step.step.RequiresPowerOff {
			w.offOps = append(w.offOps, string(s.step.kind))
		}
	}
	w.stop = power != drivers.PowerOff && (len(w.offOps) > 0 || want == drivers.PowerOff)
	w.start = want == drivers.PowerRunning && (w.stop || power != drivers.PowerRunning)
	return w
}

// drift is the power difference as a change reason; "" when power is right.
func (w powerWindow) drift() string {
	if w.power == w.want {
		return ""
	}
	return fmt.Sprintf("power is %s, want %s", w.power, w.want)
}

// keepsRunning: the VM runs throughout the update (a move can be live).
func (w powerWindow) keepsRunning() bool {
	return w.power == drivers.PowerRunning && !w.stop
}

func (w powerWindow) transitional() *Blocked {
	return block(BlockPowerTransitional, fmt.Sprintf("the VM is in state %s (starting, stopping, saving or failed); plan again once it is Running or Off", w.power))
}

// stopStep is the stop-vm step, when w.stop.
func (w powerWindow) stopStep() Step {
	s := Step{Disruptive: true}
	off := strings.Join(w.offOps, ", ")
	anyOff := len(w.offOps) > 0
	switch {
	case w.power == drivers.PowerOther:
		s.Blocked = w.transitional()
		s.Reason = "stop the VM"
	case w.power == drivers.PowerSaved && anyOff:
		s.Reason = fmt.Sprintf("power is Saved: stop-vm discards the saved memory state so that %s can run while the VM is Off; it then boots fresh", off)
	case w.power == drivers.PowerPaused && anyOff:
		s.Reason = fmt.Sprintf("power is Paused: stop-vm turns it off (its in-memory state is lost) so that %s can run while the VM is Off", off)
	case w.want == drivers.PowerOff:
		s.Reason = fmt.Sprintf("power is %s, want Off", w.power)
	default:
		s.Reason = fmt.Sprintf("stop the VM once for all its Off-only changes (%s); start-vm starts it again", off)
	}
	return s
}

// startStep is the start-vm step, when w.start; nodeBlocked is why the node
// the VM ends on cannot run it (nil: it can).
func (w powerWindow) startStep(nodeBlocked *Blocked) Step {
	s := Step{Blocked: nodeBlocked, Disruptive: w.power == drivers.PowerRunning}
	switch {
	case w.power == drivers.PowerRunning:
		s.Reason = "start the VM again after its Off-only changes (power: Running)"
	case w.power == drivers.PowerOther:
		s.Reason = "start the VM (power: Running)"
		if s.Blocked == nil {
			s.Blocked = w.transitional()
		}
	case w.stop:
		s.Reason = "boot the VM after its Off-only changes (power: Running)"
	case w.power == drivers.PowerSaved:
		s.Reason = "power is Saved, want Running: start-vm resumes it from its saved state"
	case w.power == drivers.PowerPaused:
		s.Reason = "power is Paused, want Running: start-vm resumes it"
	default:
		s.Reason = fmt.Sprintf("power is %s, want Running", w.power)
	}
	return s
}
