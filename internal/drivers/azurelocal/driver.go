package azurelocal

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// Name is the driver's name in a Cluster document (spec.driver).
const Name = "azurelocal"

// Endpoint is how the driver reaches one cluster: Azure Resource Manager
// (where the cluster's VMs are, and who asks) and the cluster's nodes (a
// psnode transport: SSH on a real cluster, in-process pipes to the
// simulated nodes for `driver: sim`).
type Endpoint struct {
	Cloud          cloud.Configuration
	Credential     azcore.TokenCredential
	HTTP           policy.Transporter // nil: the SDK's default client
	Subscription   string
	ResourceGroup  string
	Location       string
	CustomLocation string
	Nodes          psnode.Transport
	// GuestIdentity: the guests run tlreconcile's guest agent, so the vTPM
	// identity is read through Run Command (the simulated guests do; on a
	// real cluster the agent must be in the image, issue 12).
	GuestIdentity bool
	// TrustRecordedIdentities lets a fresh driver (a CLI run) take the
	// identity the tags record where the VM is on the recorded node with its
	// key in the vault, instead of reading every guest (identitycache.go).
	// Off by default: it misses a reset on the same node since the record
	// (a key lost and the VM restarted there), which a read would see.
	TrustRecordedIdentities bool
	// LogicalNetwork is the logical network the NIC of a new VM joins (until
	// a VM declares its own network).
	LogicalNetwork string
	// Infrastructure names the platform's own VMs (the Arc resource
	// bridge): reported as infrastructure, never changed.
	Infrastructure []string
	// NodeStartTimeout is how long a node's PowerShell may take to become
	// ready (0: one minute).
	NodeStartTimeout time.Duration
	// Retry and PollFrequency tune the ARM client (zero: the SDK's defaults).
	Retry         policy.RetryOptions
	PollFrequency time.Duration // 0: 2 s
}

// Resolver finds the endpoint of the cluster ref names; the factory of a
// real cluster reads it from the Cluster document's options, `driver: sim`
// from the embedded simulated Azure Local.
type Resolver func(ctx context.Context, ref drivers.ClusterRef) (Endpoint, error)

// Driver is the azurelocal driver. It keeps one connection per cluster (the
// ARM pipeline and a PowerShell session per node) and no other state: every
// Apply carries what it needs, so a fresh Driver applies a saved plan.
type Driver struct {
	resolve Resolver
	onClose func() error // the embedded platform's shutdown; nil for a real cluster

	mu    sync.Mutex
	conns map[string]*conn
}

var (
	_ drivers.Driver   = (*Driver)(nil)
	_ drivers.Closer   = (*Driver)(nil)
	_ drivers.Profiler = (*Driver)(nil)
)

// New returns a driver that reaches clusters through resolve.
func New(resolve Resolver) *Driver {
	return &Driver{resolve: resolve, conns: map[string]*conn{}}
}

// Profile: Azure Local's (DESIGN §1.1, §4).
func (d *Driver) Profile() drivers.Profile { return drivers.AzureLocal() }

// conn is one cluster's connection.
type conn struct {
	ref   drivers.ClusterRef
	ep    Endpoint
	arm   *armClient
	nodes map[string]*psnode.Session
	infra map[string]bool
	// imageMu serialises ensureImage (see there).
	imageMu sync.Mutex
	perf    perfState // what Observe remembers to spare ARM requests (graph.go, identitycache.go)
}

// connect returns the cluster's connection, making it on first use.
func (d *Driver) connect(ctx context.Context, ref drivers.ClusterRef) (*conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.conns[ref.Name]; ok {
		if !reflect.DeepEqual(c.ref, ref) {
			// The same cluster, its document changed (nodes, key backup
			// root); one session's ops all carry the same ref, so this
			// happens between sessions, not under concurrent ops.
			c.ref = ref
			c.addSessions()
		}
		return c, nil
	}
	ep, err := d.resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
	}
	client, err := newARMClient(armConfig{
		Cloud: ep.Cloud, Credential: ep.Credential, Transport: ep.HTTP,
		Subscription: ep.Subscription, ResourceGroup: ep.ResourceGroup,
		Location: ep.Location, CustomLocation: ep.CustomLocation,
		Retry: ep.Retry, PollFrequency: ep.PollFrequency,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
	}
	c := &conn{ref: ref, ep: ep, arm: client, nodes: map[string]*psnode.Session{}, infra: map[string]bool{}}
	for _, n := range ep.Infrastructure {
		c.infra[n] = true
	}
	c.addSessions()
	d.conns[ref.Name] = c
	return c, nil
}

// node is the session of the named node of c.
func (c *conn) node(name string) (*psnode.Session, error) {
	s, ok := c.nodes[name]
	if !ok {
		return nil, fmt.Errorf("node/%s: not a node of cluster %s (its nodes: %v): %w", name, c.ref.Name, c.ref.Nodes, drivers.ErrNotFound)
	}
	return s, nil
}

// infrastructure lists the infrastructure VM names for the node scripts.
func (c *conn) infrastructure() []string { return c.ep.Infrastructure }

// Close ends every node session.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		for _, s := range c.nodes {
			s.Close()
		}
		if c.ep.Nodes != nil {
			_ = c.ep.Nodes.Close()
		}
	}
	d.conns = map[string]*conn{}
	if d.onClose != nil {
		return d.onClose()
	}
	return nil
}

func startTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Minute
	}
	return d
}

// addSessions prepares a session for every node of the ref that has none.
func (c *conn) addSessions() {
	for _, n := range c.ref.Nodes {
		if _, ok := c.nodes[n]; !ok {
			c.nodes[n] = psnode.NewSession(psnode.SessionConfig{Node: n, Transport: c.ep.Nodes, Scripts: azlocal.Scripts(),
				StartTimeout: startTimeout(c.ep.NodeStartTimeout)})
		}
	}
}
