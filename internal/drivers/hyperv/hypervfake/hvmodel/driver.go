package hvmodel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Name is the driver's registry name (a Cluster's spec.driver).
const Name = "sim"

// Driver is the sim driver. A Driver holds no cluster state of its own beyond
// the identity cache's in-memory layer; everything else is read from and
// written to the cluster directory on each call, so any number of Drivers, in
// this process or others, can work on one cluster at once.
type Driver struct {
	stateDir string

	mu      sync.Mutex                 // guards cache and indexed
	cache   map[string]cacheEntry      // content sha256 -> identity (see identity.go)
	indexed map[string]map[string]bool // cluster dir -> keys in its idcache index
}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.VMObserver = (*Driver)(nil)
	_ drivers.Closer     = (*Driver)(nil)
)

// New returns a sim driver keeping its clusters under cfg.StateDir/sim.
func New(cfg drivers.Config) (*Driver, error) {
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("sim driver: no state directory: pass --state-dir or set TLRECONCILE_STATE_DIR: %w", drivers.ErrInvalidArgument)
	}
	return &Driver{stateDir: cfg.StateDir, cache: map[string]cacheEntry{}, indexed: map[string]map[string]bool{}}, nil
}

// StateDir is the state dir the driver was opened on (drivers.Config.StateDir).
func (d *Driver) StateDir() string { return d.stateDir }

// Factory is New as a drivers.Factory, for the registry.
func Factory(cfg drivers.Config) (drivers.Driver, error) { return New(cfg) }

// Close releases nothing today: TPMs are started per call and stopped again.
// It exists so callers treat the sim like drivers that hold processes.
func (d *Driver) Close() error { return nil }

// Observe reads the whole cluster, creating it from ref on first use.
func (d *Driver) Observe(ctx context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	if ref.Name == "" {
		return nil, fmt.Errorf("sim driver: observe: the cluster has no name: set metadata.name: %w", drivers.ErrInvalidArgument)
	}
	c, err := d.ensureCluster(ref)
	if err != nil {
		return nil, err
	}
	obs := &drivers.Observed{Cluster: c.file.Name, Driver: Name, ObservedAt: time.Now().UTC(), Nodes: []drivers.Node{}, VMs: []drivers.VM{}}
	for _, n := range c.file.Nodes {
		obs.Nodes = append(obs.Nodes, drivers.Node{Name: n.Name, State: n.State, IgvmAgent: n.IgvmAgent, MigrationIPsec: n.MigrationIPsec})
	}
	names, err := c.vmNames()
	if err != nil {
		return nil, err
	}
	recs, err := c.readVMs(names)
	if err != nil {
		return nil, err
	}
	obs.VMs = make([]drivers.VM, len(recs))
	jobs := make([]*identityJob, len(recs))
	d.cacheLoadIndex(c)
	// File reads dominate a warm observe; overlap them a little.
	const workers = 4
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += workers {
				r := recs[i]
				g := c.readGuest(r)
				obs.VMs[i] = c.observedVM(r, g.access())
				job, err := d.prepareIdentityFrom(c, r, &obs.VMs[i].VTPMIdentity, g)
				if err != nil {
					errs[w] = fmt.Errorf("cluster/%s: vm/%s: %w", c.file.Name, r.Name, err)
					return
				}
				jobs[i] = job
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := d.resolveIdentities(ctx, c, jobs); err != nil {
		return nil, fmt.Errorf("cluster/%s: %w", c.file.Name, err)
	}
	// Drop cache entries of states no VM has any more.
	used := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		if j == nil {
			continue
		}
		used[j.hash] = true
		if j.alt != "" {
			used[j.alt] = true
		}
	}
	d.cachePrune(c, used)
	d.cacheWriteIndex(c, used)
	return obs, nil
}

// readVMs reads the named VMs' records. Every damaged one is reported, not
// just the first, and none is skipped: a VM left out of an observation would
// be absent to the planner.
func (c *cluster) readVMs(names []string) ([]*vmRecord, error) {
	recs := make([]*vmRecord, 0, len(names))
	var errs []error
	for _, n := range names {
		r, err := c.readVM(n)
		switch {
		case errors.Is(err, drivers.ErrNotFound):
			continue // deleted since the listing
		case err != nil:
			errs = append(errs, fmt.Errorf("cluster/%s: vm/%s: %w", c.file.Name, n, err))
		default:
			recs = append(recs, r)
		}
	}
	return recs, errors.Join(errs...)
}

// ObserveVM reads one VM (apply verifies each VM after its steps).
func (d *Driver) ObserveVM(ctx context.Context, ref drivers.ClusterRef, name string) (*drivers.VM, error) {
	c, err := d.ensureCluster(ref)
	if err != nil {
		return nil, err
	}
	r, err := c.readVM(name)
	if err != nil {
		return nil, fmt.Errorf("vm/%s: %w", name, err)
	}
	g := c.readGuest(r)
	vm := c.observedVM(r, g.access())
	job, err := d.prepareIdentityFrom(c, r, &vm.VTPMIdentity, g)
	if err == nil {
		err = d.resolveIdentities(ctx, c, []*identityJob{job})
	}
	if err != nil {
		return nil, fmt.Errorf("vm/%s: %w", name, err)
	}
	return &vm, nil
}

// observedVM is what Get-VM and friends would report for r, without the identity.
func (c *cluster) observedVM(r *vmRecord, access drivers.FileAccess) drivers.VM {
	vm := drivers.VM{
		Name: r.Name, ID: r.ID, Node: r.Node, Generation: r.Generation, Power: r.Power,
		Processors: r.Processors, MemoryMB: r.MemoryMB, SecurityType: r.SecurityType,
		SecureBoot: r.SecureBoot, SecureBootTemplate: r.SecureBootTemplate, TPMEnabled: r.TPMEnabled,
		KeyProtector: len(r.KeyProtector) > 0, KeyProtectorSHA256: protectorSHA256(r.KeyProtector),
		EncryptState: r.EncryptState, VBSOptOut: r.VBSOptOut, VTPMInitialized: r.VTPMInitialized,
		FileAccess: access,
	}
	if r.Annotations != nil {
		a := *r.Annotations
		vm.Annotations = &a
	}
	if r.Attestation != nil {
		a := *r.Attestation
		vm.Attestation = &a
	}
	return vm
}

// Clusters lists the sim clusters under the state dir, sorted.
func (d *Driver) Clusters() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(d.stateDir, "sim"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sim: list clusters: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && exists(filepath.Join(d.stateDir, "sim", e.Name(), clusterFileName)) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Ref returns the ClusterRef of an existing cluster, for callers (the CLI)
// that have a name but no Cluster document.
func (d *Driver) Ref(cluster string) (drivers.ClusterRef, error) {
	c, err := d.loadCluster(cluster)
	if err != nil {
		return drivers.ClusterRef{}, err
	}
	ref := drivers.ClusterRef{Name: c.file.Name, Driver: Name, Options: map[string]any{"vtpmBackend": c.file.Backend}}
	for _, n := range c.file.Nodes {
		ref.Nodes = append(ref.Nodes, n.Name)
	}
	return ref, nil
}
