package hyperv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Name is the driver's name in a Cluster document (spec.driver).
const Name = "hyperv"

// Driver runs PowerShell on the nodes of the clusters it is given (Observe or Apply). It is safe for
// concurrent use: requests to one node are serialised on that node's PowerShell process.
type Driver struct {
	cfg          drivers.Config
	log          *slog.Logger
	newTransport TransportFactory
	now          func() time.Time
	startTimeout time.Duration
	stats        psnode.Counter

	mu       sync.Mutex
	clusters map[string]*cluster
}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Closer     = (*Driver)(nil)
	_ drivers.VMObserver = (*Driver)(nil)
	_ drivers.Profiler   = (*Driver)(nil)
)

// Option configures a Driver.
type Option func(*Driver)

// WithLogger sends the driver's log to l (default: warnings, such as a skipped host-key
// check, to stderr).
func WithLogger(l *slog.Logger) Option { return func(d *Driver) { d.log = l } }

// WithTransport replaces the transports the options would choose (tests, fakes).
func WithTransport(f TransportFactory) Option { return func(d *Driver) { d.newTransport = f } }

// WithStartTimeout bounds how long a new PowerShell process may take to become ready.
func WithStartTimeout(t time.Duration) Option { return func(d *Driver) { d.startTimeout = t } }

// New builds the driver; it connects to nothing until the first Observe.
func New(cfg drivers.Config, opts ...Option) (*Driver, error) {
	d := &Driver{
		cfg:          cfg,
		log:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		now:          time.Now,
		startTimeout: 90 * time.Second,
		clusters:     map[string]*cluster{},
	}
	for _, o := range opts {
		o(d)
	}
	if d.newTransport == nil {
		d.newTransport = d.defaultTransport
	}
	return d, nil
}

// Profile is classic Hyper-V's (DESIGN §1.2) with two facts of real hosts: the Secure Boot
// template stays fixed once the vTPM is initialised, also after a vTPM reset; and static
// memory changes while the VM runs: runtime memory resize on Windows Server 2016 and later hosts and guests, so a memory
// change needs no outage (set-memory.ps1 says "stop it first" where a guest cannot).
func (d *Driver) Profile() drivers.Profile {
	p := drivers.ClassicHyperV()
	off := make([]drivers.Setting, 0, len(p.OffFor))
	for _, s := range p.OffFor {
		if s != drivers.SettingMemory {
			off = append(off, s)
		}
	}
	p.OffFor = off
	p.TemplateFixedOnceInitialised = true // set-secure-boot.ps1 refuses while the .vmgs holds data
	p.GracefulStop = true                 // stop-vm.ps1 turns a VM off only with allowForceStop
	return p
}

// Factory is the drivers.Factory for the registry.
func Factory(cfg drivers.Config) (drivers.Driver, error) { return New(cfg) }

// Stats returns what the driver has sent so far.
func (d *Driver) Stats() psnode.Stats { return d.stats.Snapshot() }

// cluster is what the driver holds per observed cluster.
type cluster struct {
	ref      drivers.ClusterRef
	opts     *Options
	tr       Transport
	sessions map[string]*psnode.Session // by ref node name

	ipsecMu sync.Mutex // serialises enable-migration-ipsec rollouts

	mu  sync.Mutex
	vms map[string]drivers.VM // last seen, by name: owner node and Notes for routing and CAS
	raw map[string]string     // last seen Notes, by VM name
}

func (d *Driver) clusterFor(ref drivers.ClusterRef) (*cluster, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clusters[ref.Name]; ok {
		if reflect.DeepEqual(c.ref, ref) {
			return c, nil
		}
		c.close()
		delete(d.clusters, ref.Name)
	}
	if len(ref.Nodes) == 0 {
		return nil, fmt.Errorf("cluster/%s: no nodes; list them under spec.nodes", ref.Name)
	}
	o, err := ParseOptions(ref)
	if err != nil {
		return nil, err
	}
	tr, err := d.newTransport(ref, o)
	if err != nil {
		return nil, err
	}
	c := &cluster{ref: ref, opts: o, tr: tr, sessions: map[string]*psnode.Session{}, vms: map[string]drivers.VM{}, raw: map[string]string{}}
	for _, n := range ref.Nodes {
		c.sessions[n] = psnode.NewSession(psnode.SessionConfig{Node: n, Transport: tr, Scripts: Scripts(), Counter: &d.stats, Log: d.log, StartTimeout: d.startTimeout})
	}
	d.clusters[ref.Name] = c
	return c, nil
}

func (c *cluster) close() {
	for _, s := range c.sessions {
		s.Close()
	}
	_ = c.tr.Close()
}

// nodeName maps a host-reported node name to the ClusterRef's spelling.
func (c *cluster) nodeName(n string) string {
	for _, r := range c.ref.Nodes {
		if strings.EqualFold(r, n) {
			return r
		}
	}
	// A short name reported for an FQDN node (or the reverse).
	for _, r := range c.ref.Nodes {
		if strings.EqualFold(strings.SplitN(r, ".", 2)[0], strings.SplitN(n, ".", 2)[0]) {
			return r
		}
	}
	return n
}

func (c *cluster) run(ctx context.Context, node, script string, p *Payload, out any) error {
	s, ok := c.sessions[node]
	if !ok {
		return fmt.Errorf("node/%s: %w: not a node of cluster %s (%s)", node, drivers.ErrNotFound, c.ref.Name, strings.Join(c.ref.Nodes, ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.timeout)
	defer cancel()
	return s.Run(ctx, script, p, out)
}

// Close ends every PowerShell process and connection.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, c := range d.clusters {
		c.close()
		delete(d.clusters, n)
	}
	return nil
}

// Observe runs observe.ps1 once on every node, in parallel, and merges the answers.
func (d *Driver) Observe(ctx context.Context, ref drivers.ClusterRef) (*drivers.Observed, error) {
	c, err := d.clusterFor(ref)
	if err != nil {
		return nil, err
	}
	reports := make([]*NodeReport, len(ref.Nodes))
	errs := make([]error, len(ref.Nodes))
	var wg sync.WaitGroup
	for i, n := range ref.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw json.RawMessage
			if errs[i] = c.run(ctx, n, ScriptObserve, &Payload{}, &raw); errs[i] != nil {
				return
			}
			reports[i], errs[i] = ParseNodeReport(raw)
		}()
	}
	wg.Wait()
	obs, notes, err := c.merge(reports, errs)
	if err != nil {
		return nil, err
	}
	obs.ObservedAt = d.now().UTC()
	c.mu.Lock()
	c.vms = make(map[string]drivers.VM, len(obs.VMs))
	for _, vm := range obs.VMs {
		c.vms[vm.Name] = vm
	}
	c.raw = notes
	c.mu.Unlock()
	return obs, nil
}

// merge builds one Observed from the node reports. A node that could not be observed is
// reported Down when another node's cluster view says so; otherwise its error is returned.
func (c *cluster) merge(reports []*NodeReport, errs []error) (*drivers.Observed, map[string]string, error) {
	view := map[string]drivers.NodeState{}
	for _, r := range reports {
		if r == nil {
			continue
		}
		for _, cn := range r.ClusterNodes {
			view[strings.ToLower(c.nodeName(cn.Name))] = nodeState(cn.State)
		}
	}
	obs := &drivers.Observed{Cluster: c.ref.Name, Driver: Name, Nodes: []drivers.Node{}, VMs: []drivers.VM{}}
	byName := map[string]drivers.VM{}
	notes := map[string]string{}
	fromOwner := map[string]bool{}
	var failed []error
	for i, n := range c.ref.Nodes {
		r := reports[i]
		if r == nil {
			if st, ok := view[strings.ToLower(n)]; ok && st == drivers.NodeDown {
				obs.Nodes = append(obs.Nodes, drivers.Node{Name: n, State: drivers.NodeDown, IgvmAgent: drivers.AgentStopped})
				continue
			}
			failed = append(failed, fmt.Errorf("observe: %w", errs[i]))
			continue
		}
		st := drivers.NodeUp
		if s, ok := view[strings.ToLower(n)]; ok {
			st = s
		}
		obs.Nodes = append(obs.Nodes, drivers.Node{Name: n, State: st, IgvmAgent: agentState(r.IgvmAgent), MigrationIPsec: r.MigrationIPsec,
			MigrationTransport: r.MigrationTransport, MigrationSMBEncrypted: r.SmbEncryption})
		for j := range r.VMs {
			vm, err := r.VMs[j].ToVM(n, c.nodeName)
			if err != nil && vm.Name == "" {
				failed = append(failed, fmt.Errorf("node/%s: observe: %w", n, err))
				continue
			}
			if err != nil {
				// One VM whose answer cannot be read is that VM's error, not the node's.
				vm = drivers.VM{Name: vm.Name, ID: vm.ID, Node: vm.Node, Power: drivers.PowerOther, ObserveError: err.Error()}
			}
			// During a live migration both nodes may list the VM: the owner's view wins.
			if _, dup := byName[vm.Name]; dup && fromOwner[vm.Name] {
				continue
			}
			byName[vm.Name], notes[vm.Name], fromOwner[vm.Name] = vm, r.VMs[j].Notes, vm.Node == n
		}
	}
	if len(failed) > 0 {
		return nil, nil, errors.Join(failed...)
	}
	for _, vm := range byName {
		obs.VMs = append(obs.VMs, vm)
	}
	sort.Slice(obs.Nodes, func(i, j int) bool { return obs.Nodes[i].Name < obs.Nodes[j].Name })
	sort.Slice(obs.VMs, func(i, j int) bool { return obs.VMs[i].Name < obs.VMs[j].Name })
	return obs, notes, nil
}

// ObserveVM runs observe.ps1 for one VM on its owner node: one round trip.
func (d *Driver) ObserveVM(ctx context.Context, ref drivers.ClusterRef, name string) (*drivers.VM, error) {
	c, err := d.clusterFor(ref)
	if err != nil {
		return nil, err
	}
	node, err := d.locate(ctx, c, name, false)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 2; attempt++ {
		var raw json.RawMessage
		if err := c.run(ctx, node, ScriptObserve, &Payload{VM: name}, &raw); err != nil {
			return nil, fmt.Errorf("vm/%s: observe: %w", name, err)
		}
		r, err := ParseNodeReport(raw)
		if err != nil {
			return nil, fmt.Errorf("vm/%s: %w", name, err)
		}
		for _, v := range r.VMs {
			if v.Name != name {
				continue
			}
			vm, err := v.ToVM(node, c.nodeName)
			if err != nil {
				return nil, err
			}
			c.remember(vm, v.Notes)
			return &vm, nil
		}
		// Not on the node we thought: it moved (failover) or is gone.
		if node, err = d.locate(ctx, c, name, true); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("vm/%s: %w: it keeps moving between nodes; observe again later", name, drivers.ErrNotFound)
}

func (c *cluster) remember(vm drivers.VM, notes string) {
	c.mu.Lock()
	c.vms[vm.Name] = vm
	c.raw[vm.Name] = notes
	c.mu.Unlock()
}

func (c *cluster) forget(name string) {
	c.mu.Lock()
	delete(c.vms, name)
	delete(c.raw, name)
	c.mu.Unlock()
}

func (c *cluster) cached(name string) (drivers.VM, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vm, ok := c.vms[name]
	return vm, c.raw[name], ok
}

// locate returns the node that owns a VM: the last observation's answer unless fresh is
// set, otherwise find-vm on the nodes in turn (a clustered VM's owner is known to any node).
func (d *Driver) locate(ctx context.Context, c *cluster, name string, fresh bool) (string, error) {
	if vm, _, ok := c.cached(name); ok && !fresh {
		return vm.Node, nil
	}
	var errs []error
	for _, n := range c.ref.Nodes {
		var fr FindResult
		if err := c.run(ctx, n, ScriptFindVM, &Payload{VM: name}, &fr); err != nil {
			errs = append(errs, err)
			continue
		}
		if fr.OwnerNode != nil && *fr.OwnerNode != "" {
			return c.nodeName(*fr.OwnerNode), nil
		}
		if fr.Local {
			return n, nil
		}
	}
	if len(errs) == len(c.ref.Nodes) {
		return "", fmt.Errorf("vm/%s: find its node: %w", name, errors.Join(errs...))
	}
	return "", fmt.Errorf("vm/%s: %w on any node of cluster %s", name, drivers.ErrNotFound, c.ref.Name)
}
