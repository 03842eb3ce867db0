package azurelocal

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestObserveVMIsObserveOfOneVM: ObserveVM sees each VM as Observe does
// (managed, local and infrastructure VMs alike), reads the instance with
// GETs (not Resource Graph) and the identity from the guest every time, and
// answers ErrNotFound for a VM that is nowhere.
func TestObserveVMIsObserveOfOneVM(t *testing.T) {
	p := newPerfPlatform(t, nil)
	ctx := context.Background()
	p.apply(tlCreate("avd-a"))
	p.apply(tlCreate("avd-b"))
	if _, err := p.host.CreateLocalVM(ctx, simClusterName, "node2", "legacy"); err != nil {
		t.Fatal(err)
	}
	all := observeOn(t, p.d, p.ref)
	for name, want := range all {
		p.count.reset()
		got, err := p.d.ObserveVM(ctx, p.ref, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: ObserveVM %+v, Observe %+v", name, *got, want)
		}
		if g := p.requests(shapeGraph); g != 0 {
			t.Errorf("%s: ObserveVM asked Resource Graph", name)
		}
		if want.Annotations != nil && p.requests(shapeRunCmd) != 1 {
			t.Errorf("%s: ObserveVM read the identity %d times, want 1", name, p.requests(shapeRunCmd))
		}
	}
	if _, err := p.d.ObserveVM(ctx, p.ref, "nowhere"); !errors.Is(err, drivers.ErrNotFound) {
		t.Fatalf("a VM that is nowhere: %v", err)
	}
}
