package drivers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// countingDriver records how often it was opened and closed.
type countingDriver struct{ closed *int }

func (countingDriver) Observe(context.Context, drivers.ClusterRef) (*drivers.Observed, error) {
	return &drivers.Observed{}, nil
}
func (countingDriver) Apply(context.Context, drivers.ClusterRef, drivers.Op) (drivers.Result, error) {
	return drivers.Result{}, nil
}
func (d countingDriver) Close() error { *d.closed++; return nil }

func TestRegistryOpenAll(t *testing.T) {
	opened, closed := map[string]int{}, 0
	reg := drivers.NewRegistry()
	for _, name := range []string{"a", "b"} {
		reg.Register(name, func(drivers.Config) (drivers.Driver, error) {
			opened[name]++
			return countingDriver{closed: &closed}, nil
		})
	}
	reg.Register("broken", func(drivers.Config) (drivers.Driver, error) { return nil, errors.New("no host") })

	t.Run("one driver per name, every cluster mapped", func(t *testing.T) {
		byCluster, closeAll, err := reg.OpenAll(drivers.Config{}, []drivers.ClusterRef{
			{Name: "c1", Driver: "a"}, {Name: "c2", Driver: "a"}, {Name: "c3", Driver: "b"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(byCluster) != 3 || opened["a"] != 1 || opened["b"] != 1 {
			t.Fatalf("clusters %d, opened %v; want 3 clusters, each driver opened once", len(byCluster), opened)
		}
		closeAll()
		if closed != 2 {
			t.Fatalf("closed %d drivers, want 2", closed)
		}
	})
	t.Run("a failing driver closes the ones already open and names the cluster", func(t *testing.T) {
		closed = 0
		_, _, err := reg.OpenAll(drivers.Config{}, []drivers.ClusterRef{{Name: "c1", Driver: "a"}, {Name: "c9", Driver: "broken"}})
		if err == nil || err.Error() != "cluster/c9: no host" {
			t.Fatalf("err = %v, want cluster/c9: no host", err)
		}
		if closed != 1 {
			t.Fatalf("closed %d drivers, want the 1 already open", closed)
		}
	})
	t.Run("unknown driver lists the known ones", func(t *testing.T) {
		_, err := reg.Open("hyper-v", drivers.Config{})
		if !errors.Is(err, drivers.ErrNotFound) || err.Error() != `driver "hyper-v": not found (known drivers: a, b, broken)` {
			t.Fatalf("err = %v", err)
		}
	})
}
