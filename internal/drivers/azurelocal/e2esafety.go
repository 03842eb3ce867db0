package azurelocal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The safety rules of the opt-in end-to-end suite (e2e_test.go, built with
// -tags azurelocal_e2e) that runs on a real Azure Local. They live in an
// untagged file so the ordinary suite tests them against the simulated Azure
// Local: a run names everything it makes with a unique prefix and gives its
// VMs tlreconcile's managed tag; it sees, changes and deletes only what
// carries both, never infrastructure (the Arc resource bridge), never a
// node-level setting; and its cleanup deletes what it made even when a step
// failed half-way (an Arc machine without its VM instance, a network
// interface without its machine).

// e2ePrefixPattern is the only shape of prefix the safety functions accept,
// so that a mistyped or empty prefix can never match other VMs.
var e2ePrefixPattern = regexp.MustCompile(`^tlr-e2e-[0-9a-f]{8}-$`)

// E2EPrefix returns a new, unique name prefix for one run of the suite
// ("tlr-e2e-" and 8 random hex digits and "-").
func E2EPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "tlr-e2e-" + hex.EncodeToString(b[:]) + "-"
}

func checkE2EPrefix(prefix string) error {
	if !e2ePrefixPattern.MatchString(prefix) {
		return fmt.Errorf("e2e prefix %q is not one E2EPrefix makes (tlr-e2e-<8 hex digits>-): refusing to match VMs by it: %w", prefix, drivers.ErrInvalidArgument)
	}
	return nil
}

// E2EOwned reports whether vm is one the run with prefix created: its name
// starts with the prefix (case-sensitively, as the run spelled it), it has
// the managed tag, and it is not infrastructure. Anything else is never
// touched.
func E2EOwned(vm drivers.VM, prefix string) bool {
	return ownedName(vm.Name, prefix) && !vm.Infrastructure &&
		vm.Annotations != nil && vm.Annotations.ManagedBy == drivers.ManagedBy
}

func ownedName(name, prefix string) bool {
	return e2ePrefixPattern.MatchString(prefix) && len(name) > len(prefix) && strings.HasPrefix(name, prefix)
}

// ownedMachine is E2EOwned for an Arc machine as ARM lists it; it also
// covers a machine whose VM instance was never created.
func (c *conn) ownedMachine(m machine, prefix string) bool {
	return ownedName(m.Name, prefix) && strings.EqualFold(m.Kind, kindHCI) && !c.infra[m.Name] &&
		m.Tags[tagManagedBy] == drivers.ManagedBy
}

// E2EForeign lists the VMs of obs that the run did not create, other than
// infrastructure (always present on Azure Local, and never touched): the
// suite refuses a target holding any unless its operator allows a shared one.
func E2EForeign(obs *drivers.Observed, prefix string) []string {
	var out []string
	for _, vm := range obs.VMs {
		if !vm.Infrastructure && !E2EOwned(vm, prefix) {
			out = append(out, vm.Name)
		}
	}
	return out
}

// E2EDriver is the driver as the suite sees it: every VM name the suite uses
// gets the run's prefix on the way in and loses it on the way out; VMs the
// run does not own are hidden from its observations; every create-vm and
// set-annotations keeps the managed tag (so cleanup finds the VM whatever
// the suite wrote); and ops that are not about a VM (agents, live-migration
// encryption: settings of the whole cluster) are refused. Errors name VMs
// by their real names, so an operator can find them in the portal.
type E2EDriver struct {
	d      *Driver
	prefix string

	mu    sync.Mutex
	tried map[string]bool // real names create-vm was sent for
}

var (
	_ drivers.Driver   = (*E2EDriver)(nil)
	_ drivers.Profiler = (*E2EDriver)(nil)
)

// NewE2EDriver wraps d for the run with prefix (from E2EPrefix).
func NewE2EDriver(d *Driver, prefix string) (*E2EDriver, error) {
	if err := checkE2EPrefix(prefix); err != nil {
		return nil, err
	}
	return &E2EDriver{d: d, prefix: prefix, tried: map[string]bool{}}, nil
}

// Prefix is the run's name prefix.
func (w *E2EDriver) Prefix() string { return w.prefix }

// Profile is the wrapped driver's.
func (w *E2EDriver) Profile() drivers.Profile { return w.d.Profile() }

// Observe shows only the run's VMs, under the names the suite gave them.
func (w *E2EDriver) Observe(ctx context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	obs, err := w.d.Observe(ctx, ref)
	if err != nil {
		return nil, err
	}
	out := *obs
	out.VMs = []drivers.VM{}
	for _, vm := range obs.VMs {
		if E2EOwned(vm, w.prefix) {
			vm.Name = strings.TrimPrefix(vm.Name, w.prefix)
			out.VMs = append(out.VMs, vm)
		}
	}
	return &out, nil
}

// Apply runs op on the run's VM of that name.
func (w *E2EDriver) Apply(ctx context.Context, ref drivers.ClusterRef, op drivers.Op) (drivers.Result, error) {
	if op.VM == "" {
		return drivers.Result{}, fmt.Errorf("e2e: %s on %q: the suite changes only VMs it creates, never a setting of the cluster's nodes: %w",
			op.Kind, op.Node, drivers.ErrPrecondition)
	}
	op.VM = w.prefix + op.VM
	if op.Kind == drivers.OpCreateVM || op.Kind == drivers.OpSetAnnotations {
		op.Params = w.marked(op.VM, op.Kind, op.Params)
	}
	if op.Kind == drivers.OpCreateVM {
		w.mu.Lock()
		w.tried[op.VM] = true
		w.mu.Unlock()
	}
	return w.d.Apply(ctx, ref, op)
}

// marked is a copy of p whose annotations carry the managed tag and, for a
// create, whose guest has a computer name of its own (the default, the VM
// name cut to 15 characters, would be the prefix for every VM of the run).
func (w *E2EDriver) marked(vm string, kind drivers.OpKind, p *drivers.Params) *drivers.Params {
	q := drivers.Params{}
	if p != nil {
		q = *p
	}
	a := drivers.Annotations{}
	if q.Annotations != nil {
		a = *q.Annotations
	}
	a.ManagedBy = drivers.ManagedBy
	q.Annotations = &a
	if kind == drivers.OpCreateVM {
		o := drivers.OSProfile{}
		if q.OSProfile != nil {
			o = *q.OSProfile
		}
		if o.ComputerName == "" {
			sum := sha256.Sum256([]byte(vm))
			o.ComputerName = "tlr" + hex.EncodeToString(sum[:6])
		}
		q.OSProfile = &o
	}
	return &q
}

// E2ETarget is what the suite needs to find on the cluster before it
// creates anything.
type E2ETarget struct {
	Image          drivers.Image // a marketplace gallery image already in the resource group
	LogicalNetwork string
	AllowShared    bool // run although the target holds VMs the run did not create
}

// Preflight checks, creating nothing, that the run may start: the target
// holds no VM the run did not create (unless AllowShared), nothing carries
// the run's prefix yet, the gallery image exists (the suite never downloads
// one: that would leave a resource behind for others to use) and so does the
// logical network.
func (w *E2EDriver) Preflight(ctx context.Context, ref drivers.ClusterRef, t E2ETarget) error {
	obs, err := w.d.Observe(ctx, ref)
	if err != nil {
		return fmt.Errorf("cluster/%s: e2e preflight: %w", ref.Name, err)
	}
	for _, vm := range obs.VMs {
		if strings.HasPrefix(vm.Name, w.prefix) {
			return fmt.Errorf("cluster/%s: e2e preflight: vm/%s already carries this run's prefix; start a new run (a new prefix)", ref.Name, vm.Name)
		}
	}
	if foreign := E2EForeign(obs, w.prefix); len(foreign) > 0 && !t.AllowShared {
		return fmt.Errorf("cluster/%s: e2e preflight: the target holds %d VMs this run did not create (%s); use a resource group and cluster of their own, or set %s=1 (they are never touched)",
			ref.Name, len(foreign), someNames(foreign, 10), envAllowShared)
	}
	c, err := w.d.connect(ctx, ref)
	if err != nil {
		return err
	}
	if err := c.galleryImagePresent(ctx, t.Image); err != nil {
		return fmt.Errorf("cluster/%s: e2e preflight: %w", ref.Name, err)
	}
	if t.LogicalNetwork == "" {
		return fmt.Errorf("cluster/%s: e2e preflight: no logical network named: set %s", ref.Name, envLogicalNetwork)
	}
	var lnet struct{}
	if err := c.arm.get(ctx, c.arm.hciPath("logicalNetworks", t.LogicalNetwork), &lnet); err != nil {
		return fmt.Errorf("cluster/%s: e2e preflight: logical network %s: %w", ref.Name, t.LogicalNetwork, err)
	}
	return nil
}

// galleryImagePresent: the resource group has a usable gallery image of im.
func (c *conn) galleryImagePresent(ctx context.Context, im drivers.Image) error {
	found := false
	if _, err := c.arm.listImages(ctx, func(g galleryImage) error {
		id := g.Properties.Identifier
		found = found || (id != nil && strings.EqualFold(id.Publisher, im.Publisher) && strings.EqualFold(id.Offer, im.Offer) &&
			strings.EqualFold(id.SKU, im.Sku) && g.Properties.ProvisioningState != provFailed)
		return nil
	}); err != nil {
		return fmt.Errorf("list the marketplace gallery images: %w", err)
	}
	if !found {
		return fmt.Errorf("no marketplace gallery image %s:%s:%s in resource group %s: add it first (the suite never downloads one)",
			im.Publisher, im.Offer, im.Sku, c.ep.ResourceGroup)
	}
	return nil
}

// Cleanup deletes everything the run made: every VM it owns (found in ARM's
// list, so also one whose create stopped half-way), and the network
// interface of every VM it owns or tried to create. It keeps going past a
// failure, checks that nothing of the run is left, and returns every error.
func (w *E2EDriver) Cleanup(ctx context.Context, ref drivers.ClusterRef) error {
	w.mu.Lock()
	tried := make([]string, 0, len(w.tried))
	for n := range w.tried {
		tried = append(tried, n)
	}
	w.mu.Unlock()
	return e2eCleanup(ctx, w.d, ref, w.prefix, tried)
}

// E2ECleanup deletes what an earlier run with prefix left behind (a run
// whose process died before its cleanup): its VMs and their network
// interfaces, by the same rules as Cleanup.
func E2ECleanup(ctx context.Context, d *Driver, ref drivers.ClusterRef, prefix string) error {
	return e2eCleanup(ctx, d, ref, prefix, nil)
}

func e2eCleanup(ctx context.Context, d *Driver, ref drivers.ClusterRef, prefix string, tried []string) error {
	if err := checkE2EPrefix(prefix); err != nil {
		return err
	}
	c, err := d.connect(ctx, ref)
	if err != nil {
		return err
	}
	owned, err := c.ownedMachines(ctx, prefix)
	if err != nil {
		return fmt.Errorf("cluster/%s: e2e cleanup: %w; remove what is named %s* in resource group %s by hand", ref.Name, err, prefix, c.ep.ResourceGroup)
	}
	var errs []error
	nics := map[string]bool{}
	for _, name := range tried {
		if ownedName(name, prefix) {
			nics[nicName(name)] = true
		}
	}
	for _, name := range owned {
		nics[nicName(name)] = true
		if err := c.deleteOwned(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("vm/%s: %w", name, err))
		}
	}
	for _, nic := range sortedKeys(nics) {
		if err := c.arm.deleteNIC(ctx, nic); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("network interface %s: %w", nic, err))
		}
	}
	if left, err := c.ownedMachines(ctx, prefix); err != nil {
		errs = append(errs, err)
	} else if len(left) > 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("still there after deleting: %s", strings.Join(left, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cluster/%s: e2e cleanup: %w; remove what is named %s* in resource group %s by hand", ref.Name, err, prefix, c.ep.ResourceGroup)
	}
	return nil
}

// ownedMachines lists the names of the Arc machines the run owns.
func (c *conn) ownedMachines(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	_, err := c.arm.listMachines(ctx, func(m machine) error {
		if c.ownedMachine(m, prefix) {
			out = append(out, m.Name)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// deleteOwned deletes the VM instance (ARM removes the Hyper-V VM, its files
// and guest state key) and then the Arc machine; either may be absent.
func (c *conn) deleteOwned(ctx context.Context, name string) error {
	if err := c.arm.deleteVM(ctx, name); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete the VM instance: %w", err)
	}
	if err := c.arm.deleteMachine(ctx, name); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete the Arc machine: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// someNames joins at most n names and says how many more there are.
func someNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
