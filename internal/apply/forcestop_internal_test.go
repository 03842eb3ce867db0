package apply

import (
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestWithForceStop: --allow-force-stop reaches stop-vm (and only stop-vm)
// on a copy, so the plan's own step is unchanged.
func TestWithForceStop(t *testing.T) {
	orig := &drivers.Params{MemoryMB: 1}
	stop := drivers.Op{Kind: drivers.OpStopVM, VM: "a", Params: orig}
	if got := withForceStop(stop, true); got.Params == nil || !got.Params.AllowForceStop || got.Params.MemoryMB != 1 {
		t.Fatalf("stop-vm with the flag: %+v", got.Params)
	}
	if orig.AllowForceStop {
		t.Fatal("the plan's step was modified")
	}
	if got := withForceStop(drivers.Op{Kind: drivers.OpStopVM, VM: "a"}, true); got.Params == nil || !got.Params.AllowForceStop {
		t.Fatalf("stop-vm without params: %+v", got.Params)
	}
	if got := withForceStop(stop, false); got.Params != orig {
		t.Fatal("without the flag the op changed")
	}
	if got := withForceStop(drivers.Op{Kind: drivers.OpStartVM, VM: "a"}, true); got.Params != nil {
		t.Fatalf("start-vm got %+v", got.Params)
	}
}
