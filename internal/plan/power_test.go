package plan

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestPowerWindow(t *testing.T) {
	offStep := []setting{{step: pending{kind: drivers.OpSetProcessor, step: Step{RequiresPowerOff: true}}}, {}}
	onStep := []setting{{step: pending{kind: drivers.OpSetSecurity}}, {}}
	const (
		run   = drivers.PowerRunning
		off   = drivers.PowerOff
		saved = drivers.PowerSaved
		pause = drivers.PowerPaused
		other = drivers.PowerOther
	)
	tests := []struct {
		name        string
		power, want drivers.PowerState
		steps       []setting
		// "stop: REASON" and "start: REASON" lines, "live" when a move can be live.
		wantStop, wantStart string
		live                bool
		blockedStop         bool
		drift               string
	}{
		{name: "running, nothing Off-only", power: run, want: run, steps: onStep, live: true},
		{name: "running, Off-only step: one stop and start", power: run, want: run, steps: offStep,
			wantStop:  "stop the VM once for all its Off-only changes (set-processor); start-vm starts it again",
			wantStart: "start the VM again after its Off-only changes (power: Running)"},
		{name: "running, want Off", power: run, want: off, wantStop: "power is Running, want Off", drift: "power is Running, want Off"},
		{name: "off, want Off, Off-only step needs no window", power: off, want: off, steps: offStep},
		{name: "off, want Running: boot", power: off, want: run, steps: offStep, wantStart: "power is Off, want Running", drift: "power is Off, want Running"},
		{name: "saved, Off-only step: stop discards the saved state", power: saved, want: run, steps: offStep,
			wantStop:  "power is Saved: stop-vm discards the saved memory state so that set-processor can run while the VM is Off; it then boots fresh",
			wantStart: "boot the VM after its Off-only changes (power: Running)", drift: "power is Saved, want Running"},
		{name: "saved, nothing Off-only: resume", power: saved, want: run,
			wantStart: "power is Saved, want Running: start-vm resumes it from its saved state", drift: "power is Saved, want Running"},
		{name: "paused, Off-only step", power: pause, want: run, steps: offStep,
			wantStop:  "power is Paused: stop-vm turns it off (its in-memory state is lost) so that set-processor can run while the VM is Off",
			wantStart: "boot the VM after its Off-only changes (power: Running)", drift: "power is Paused, want Running"},
		{name: "paused, nothing Off-only: resume", power: pause, want: run,
			wantStart: "power is Paused, want Running: start-vm resumes it", drift: "power is Paused, want Running"},
		{name: "paused, want Off", power: pause, want: off, wantStop: "power is Paused, want Off", drift: "power is Paused, want Off"},
		{name: "transitional: stop and start are blocked", power: other, want: run, steps: offStep, blockedStop: true,
			wantStop: "stop the VM", wantStart: "start the VM (power: Running)", drift: "power is Other, want Running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPowerWindow(tt.power, tt.want, tt.steps)
			if got := reasonIf(w.stop, w.stopStep); got != tt.wantStop {
				t.Errorf("stop = %q, want %q", got, tt.wantStop)
			}
			if got := reasonIf(w.start, func() Step { return w.startStep(nil) }); got != tt.wantStart {
				t.Errorf("start = %q, want %q", got, tt.wantStart)
			}
			if w.keepsRunning() != tt.live {
				t.Errorf("keepsRunning = %t, want %t", w.keepsRunning(), tt.live)
			}
			if w.stop && (w.stopStep().Blocked != nil) != tt.blockedStop {
				t.Errorf("stop blocked = %v, want %t", w.stopStep().Blocked, tt.blockedStop)
			}
			if got := w.drift(); got != tt.drift {
				t.Errorf("drift = %q, want %q", got, tt.drift)
			}
		})
	}
}

func reasonIf(ok bool, step func() Step) string {
	if !ok {
		return ""
	}
	return step().Reason
}

// TestPowerWindowStartBlock: a start on a node that cannot run the VM is
// blocked by the node; a transitional VM's start is blocked by its state.
func TestPowerWindowStartBlock(t *testing.T) {
	node := notReady("node x is Down")
	tests := []struct {
		name  string
		power drivers.PowerState
		node  *Blocked
		want  BlockCode
	}{
		{"node not ready", drivers.PowerOff, node, BlockNodeNotReady},
		{"node not ready wins over the transitional state", drivers.PowerOther, node, BlockNodeNotReady},
		{"transitional", drivers.PowerOther, nil, BlockPowerTransitional},
		{"nothing blocks", drivers.PowerOff, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newPowerWindow(tt.power, drivers.PowerRunning, nil).startStep(tt.node)
			var got BlockCode
			if s.Blocked != nil {
				got = s.Blocked.Code
			}
			if got != tt.want {
				t.Errorf("blocked = %q, want %q", got, tt.want)
			}
		})
	}
}
