package drivers_test

import (
	"errors"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestRegistryOpen(t *testing.T) {
	reg := drivers.NewRegistry()
	for _, name := range []string{"a", "b"} {
		reg.Register(name, func(drivers.Config) (drivers.Driver, error) { return nil, errors.New("unused") })
	}
	_, err := reg.Open("hyper-v", drivers.Config{})
	if !errors.Is(err, drivers.ErrNotFound) || err.Error() != `driver "hyper-v": not found (known drivers: a, b)` {
		t.Fatalf("err = %v", err)
	}
}
