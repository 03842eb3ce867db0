package hvmodel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// AnyOp in a Fault matches every op that has no fault of its own.
const AnyOp drivers.OpKind = "*"

// Fault is an injected failure or delay for one op kind. Faults live in the
// cluster directory (faults.json), so a fault injected by `tlreconcile sim
// inject` is seen by the `tlreconcile apply` that runs next.
type Fault struct {
	Op drivers.OpKind `json:"op"` // an op kind, or AnyOp
	// Fail makes the next Fail calls of the op fail with a Transient error
	// (apply retries them); each failure uses one up.
	Fail int `json:"fail,omitempty"`
	// FailAlways makes every call fail with a permanent error.
	FailAlways bool `json:"fail_always,omitempty"`
	// Latency delays every call of the op, outside any lock.
	Latency time.Duration `json:"latency,omitempty"`
}

// Validate checks a fault before it is stored.
func (f Fault) Validate() error {
	if f.Op != AnyOp && !f.Op.Valid() {
		return fmt.Errorf("fault: op %q: use one of the op names of `tlreconcile plan` (create-vm, start-vm, ...) or %q: %w", f.Op, AnyOp, drivers.ErrInvalidArgument)
	}
	if f.Fail < 0 || f.Latency < 0 {
		return fmt.Errorf("fault: op %s: fail count and latency must not be negative: %w", f.Op, drivers.ErrInvalidArgument)
	}
	if f.Fail > 0 && f.FailAlways {
		return fmt.Errorf("fault: op %s: give a fail count or fail-always, not both: %w", f.Op, drivers.ErrInvalidArgument)
	}
	return nil
}

type faultsFile struct {
	Format int     `json:"format"`
	Faults []Fault `json:"faults"` // sorted by op
}

func (c *cluster) faultsPath() string { return filepath.Join(c.dir, faultsFileName) }

func (c *cluster) readFaults() ([]Fault, error) {
	var f faultsFile
	err := readJSON(c.faultsPath(), &f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f.Faults, err
}

// faultFor is the fault that applies to kind: its own, else AnyOp's.
func faultFor(faults []Fault, kind drivers.OpKind) (Fault, bool) {
	var any Fault
	found := false
	for _, f := range faults {
		if f.Op == kind {
			return f, true
		}
		if f.Op == AnyOp {
			any, found = f, true
		}
	}
	return any, found
}

// Faults lists the faults injected into a cluster, sorted by op.
func (d *Driver) Faults(cluster string) ([]Fault, error) {
	c, err := d.loadCluster(cluster)
	if err != nil {
		return nil, err
	}
	return c.readFaults()
}

// Inject stores f, replacing any fault for the same op.
func (d *Driver) Inject(cluster string, f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return d.updateFaults(cluster, func(list []Fault) ([]Fault, error) {
		list = slices.DeleteFunc(list, func(x Fault) bool { return x.Op == f.Op })
		list = append(list, f)
		slices.SortFunc(list, func(a, b Fault) int {
			if a.Op < b.Op {
				return -1
			}
			if a.Op > b.Op {
				return 1
			}
			return 0
		})
		return list, nil
	})
}

// ClearFaults removes every injected fault.
func (d *Driver) ClearFaults(cluster string) error {
	return d.updateFaults(cluster, func([]Fault) ([]Fault, error) { return []Fault{}, nil })
}

func (d *Driver) updateFaults(cluster string, fn func([]Fault) ([]Fault, error)) error {
	c, err := d.loadCluster(cluster)
	if err != nil {
		return err
	}
	l, err := lock(filepath.Join(c.dir, clusterLockName))
	if err != nil {
		return fmt.Errorf("cluster/%s: %w", cluster, err)
	}
	defer l.unlock()
	faults, err := c.readFaults()
	if err != nil {
		return err
	}
	faults, err = fn(faults)
	if err != nil {
		return err
	}
	if err := writeJSONAtomic(c.faultsPath(), faultsFile{Format: stateFormat, Faults: faults}); err != nil {
		return fmt.Errorf("cluster/%s: write %s: %w", cluster, faultsFileName, err)
	}
	return nil
}

// injectFault sleeps the op's latency and fails it when a fault says so. It
// runs before the op takes any lock.
func (d *Driver) injectFault(ctx context.Context, c *cluster, kind drivers.OpKind) error {
	faults, err := c.readFaults()
	if err != nil || len(faults) == 0 {
		return err
	}
	f, ok := faultFor(faults, kind)
	if !ok {
		return nil
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if f.FailAlways {
		return fmt.Errorf("injected permanent failure (remove it with `tlreconcile sim inject --clear`)")
	}
	if f.Fail == 0 {
		return nil
	}
	// Use one failure up, atomically, so that N failures happen exactly N
	// times across every process applying to this cluster.
	fired := false
	left := 0
	err = d.updateFaults(c.file.Name, func(list []Fault) ([]Fault, error) {
		for i := range list {
			if list[i].Op == f.Op && list[i].Fail > 0 {
				list[i].Fail--
				fired, left = true, list[i].Fail
			}
		}
		return list, nil
	})
	if err != nil {
		return err
	}
	if fired {
		return drivers.Transient(fmt.Errorf("injected transient failure (%d more to come): retry", left))
	}
	return nil
}
