package cluster

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

func TestSecureBootReEnable(t *testing.T) {
	ctx := context.Background()
	e := newCrashEnv(t)
	h := e.open()
	id := e.place(h)
	secureBoot := func() bool {
		t.Helper()
		st, err := h.VM(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return st.SecureBoot
	}
	if !secureBoot() {
		t.Fatal("a new trusted-launch VM has Secure Boot off")
	}
	if err := h.DisableSecureBoot(ctx, id); err != nil || secureBoot() {
		t.Fatalf("DisableSecureBoot: %v; Secure Boot still on: %v", err, secureBoot())
	}
	if err := h.EnableSecureBoot(ctx, id); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("EnableSecureBoot of a running VM: %v, want ErrInvalidState", err)
	}
	if err := h.StopVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.EnableSecureBoot(ctx, id); err != nil || !secureBoot() {
		t.Fatalf("EnableSecureBoot of a stopped VM: %v; on: %v", err, secureBoot())
	}
	if err := h.EnableSecureBoot(ctx, id); err != nil {
		t.Fatalf("EnableSecureBoot again: %v, want no-op", err)
	}
	st, err := h.Observe(ctx, "c1", ObserveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range st.VMs {
		if !vm.Infrastructure {
			continue
		}
		if err := h.DisableSecureBoot(ctx, vm.VMID); !errors.Is(err, ErrInfrastructure) {
			t.Errorf("DisableSecureBoot of the resource bridge: %v, want ErrInfrastructure", err)
		}
		if err := h.EnableSecureBoot(ctx, vm.VMID); !errors.Is(err, ErrInfrastructure) {
			t.Errorf("EnableSecureBoot of the resource bridge: %v, want ErrInfrastructure", err)
		}
	}
}

// TestPlaceKeepsSecureBootOff: a VM created without Secure Boot (a standard
// VM) is observed with it off, not with the trusted-launch default.
func TestPlaceKeepsSecureBootOff(t *testing.T) {
	ctx := context.Background()
	e := newCrashEnv(t)
	h := e.open()
	pl, err := h.PlaceVM(ctx, arm.PlaceRequest{MachineID: "/m/std-01", CustomLocation: arm.DefaultCustomLocation,
		Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.VM(ctx, pl.VMID)
	if err != nil || st.SecureBoot {
		t.Fatalf("standard VM: SecureBoot=%v %v, want off", st.SecureBoot, err)
	}
}

// TestSecureBootOffBootsWithoutIt: Secure Boot switched off on the node is
// what the next boot measures (the guest sees it off, and its event log
// changes), and switching it back on is measured at the boot after.
func TestSecureBootOffBootsWithoutIt(t *testing.T) {
	ctx := context.Background()
	e := newCrashEnv(t)
	h := e.open()
	id := e.place(h)
	look := func() (bool, []byte) {
		t.Helper()
		var sb bool
		var log []byte
		if err := h.InGuest(ctx, id, func(g *Guest) error { sb, log = g.SecureBoot, g.EventLog(); return nil }); err != nil {
			t.Fatal(err)
		}
		return sb, log
	}
	on, logOn := look()
	if !on {
		t.Fatal("a new trusted-launch guest booted without Secure Boot")
	}
	if err := h.DisableSecureBoot(ctx, id); err != nil {
		t.Fatal(err)
	}
	if sb, _ := look(); !sb {
		t.Fatal("switching Secure Boot off changed the running boot")
	}
	if err := h.RestartVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	off, logOff := look()
	if off || bytes.Equal(logOn, logOff) {
		t.Fatalf("after a restart with Secure Boot off: guest sees %v, log changed %v", off, !bytes.Equal(logOn, logOff))
	}
	if err := h.StopVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.EnableSecureBoot(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.StartVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	if sb, log := look(); !sb || !bytes.Equal(log, logOn) {
		t.Fatalf("after re-enabling: guest sees %v, log back to the first %v", sb, bytes.Equal(log, logOn))
	}
}
