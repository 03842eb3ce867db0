package hyperv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// E2EPrefix returns a unique VM-name prefix for one run of the opt-in end-to-end suite, so
// that the suite recognises its own VMs by name and marker and nothing else.
func E2EPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "tlr-e2e-" + hex.EncodeToString(b[:]) + "-"
}

// E2EOwned reports whether vm is one the e2e run with prefix created: its name carries the
// prefix AND it has tlreconcile's managed marker, and it is not platform infrastructure.
// Everything else on a real cluster (production VMs, unmanaged VMs, the infrastructure VM)
// is never touched.
func E2EOwned(vm drivers.VM, prefix string) bool {
	return prefix != "" && strings.HasPrefix(vm.Name, prefix) && !vm.Infrastructure &&
		vm.Annotations != nil && vm.Annotations.ManagedBy == drivers.ManagedBy
}

// E2EForeign lists the VMs of obs the run did not create: the suite refuses to start on a
// cluster that holds any unless its operator allows a shared cluster.
func E2EForeign(obs *drivers.Observed, prefix string) []string {
	var out []string
	for _, vm := range obs.VMs {
		if !E2EOwned(vm, prefix) {
			out = append(out, vm.Name)
		}
	}
	return out
}

// E2EAllowSharedEnv is the variable whose value 1 lets the e2e suite run on a cluster that
// holds VMs it did not create (they are never touched).
const E2EAllowSharedEnv = "TLR_E2E_ALLOW_SHARED"

// E2ECheckShared is the e2e suite's refusal to start: an error naming the VMs of obs the run
// did not create, unless allowShared (the value of TLR_E2E_ALLOW_SHARED) is "1".
func E2ECheckShared(obs *drivers.Observed, prefix, allowShared string) error {
	foreign := E2EForeign(obs, prefix)
	if len(foreign) == 0 || allowShared == "1" {
		return nil
	}
	shown := foreign
	if len(shown) > 10 {
		shown = shown[:10]
	}
	more := ""
	if n := len(foreign) - len(shown); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Errorf("cluster/%s holds %d VMs this e2e run did not create (%s%s): use an empty cluster, or set %s=1 to run beside them (they are never touched)",
		obs.Cluster, len(foreign), strings.Join(shown, ", "), more, E2EAllowSharedEnv)
}

// E2ECleanup stops and deletes exactly the VMs the run created (E2EOwned), and only those;
// it keeps going past a failure and returns every error.
func E2ECleanup(ctx context.Context, d drivers.Driver, ref drivers.ClusterRef, prefix string) error {
	obs, err := d.Observe(ctx, ref)
	if err != nil {
		return fmt.Errorf("cluster/%s: e2e cleanup: observe: %w; remove VMs named %s* by hand", ref.Name, err, prefix)
	}
	var errs []error
	for _, vm := range obs.VMs {
		if !E2EOwned(vm, prefix) {
			continue
		}
		if _, err := d.Apply(ctx, ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: ref.Name, VM: vm.Name, Params: &drivers.Params{AllowForceStop: true}}); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := d.Apply(ctx, ref, drivers.Op{Kind: drivers.OpDeleteVM, Cluster: ref.Name, VM: vm.Name}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// E2EIPsecBefore records which nodes were covered by live-migration IPsec before the run, and
// E2ERestoreIPsec removes the rules the run added on the nodes that had none, so the suite
// leaves the cluster's IPsec as it found it.
func E2EIPsecBefore(obs *drivers.Observed) map[string]bool {
	m := make(map[string]bool, len(obs.Nodes))
	for _, n := range obs.Nodes {
		m[n.Name] = n.MigrationIPsec
	}
	return m
}

// E2ERestoreIPsec runs disable-migration-ipsec on every node that had no IPsec before.
func (d *Driver) E2ERestoreIPsec(ctx context.Context, ref drivers.ClusterRef, before map[string]bool) error {
	c, err := d.clusterFor(ref)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range ref.Nodes {
		if before[n] {
			continue
		}
		var r OpResult
		if err := c.run(ctx, n, ScriptDisableMigrationIPsec, &Payload{}, &r); err != nil {
			errs = append(errs, fmt.Errorf("node/%s: restore IPsec: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// E2EDriver wraps a driver for the e2e suite: every VM name the contract suite uses gets the
// run's prefix on the way in and loses it on the way out, VMs without the prefix are hidden
// from its observations, and every VM it creates carries the managed marker (added when the
// suite sets none, and kept when it clears its annotations), so E2ECleanup finds exactly them.
type E2EDriver struct {
	drivers.Driver
	Prefix string
}

// Profile is the wrapped driver's.
func (w E2EDriver) Profile() drivers.Profile { return drivers.ProfileOf(w.Driver) }

var marker = drivers.Annotations{ManagedBy: drivers.ManagedBy}

// Apply renames op's VM and keeps the marker on it.
func (w E2EDriver) Apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	if op.VM != "" {
		op.VM = w.Prefix + op.VM
	}
	if op.Kind == drivers.OpCreateVM || op.Kind == drivers.OpSetAnnotations {
		p := drivers.Params{}
		if op.Params != nil {
			p = *op.Params
		}
		if p.Annotations == nil {
			a := marker
			p.Annotations = &a
		}
		op.Params = &p
	}
	res, err := w.Driver.Apply(ctx, ref, op)
	if err != nil {
		return res, renamed{msg: strings.ReplaceAll(err.Error(), w.Prefix, ""), err: err}
	}
	return res, nil
}

// Observe shows only the run's VMs, under the names the suite gave them.
func (w E2EDriver) Observe(ctx context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	obs, err := w.Driver.Observe(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := *obs
	out.VMs = []drivers.VM{}
	for _, vm := range obs.VMs {
		if E2EOwned(vm, w.Prefix) {
			out.VMs = append(out.VMs, w.strip(vm))
		}
	}
	return &out, nil
}

func (w E2EDriver) strip(vm drivers.VM) drivers.VM {
	vm.Name = strings.TrimPrefix(vm.Name, w.Prefix)
	if vm.Annotations != nil && *vm.Annotations == marker {
		vm.Annotations = nil // the marker the wrapper added, not one the suite wrote
	}
	return vm
}

// renamed is an error whose text names VMs as the suite does; it still wraps the original,
// so errors.Is finds the sentinels.
type renamed struct {
	msg string
	err error
}

func (r renamed) Error() string { return r.msg }
func (r renamed) Unwrap() error { return r.err }
