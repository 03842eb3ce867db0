package azurelocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/sim/node"
)

// The embedded simulated Azure Local: the same driver code as a real
// cluster, against the simulated platform of internal/sim running in this
// process under the state dir (its ARM over HTTPS on loopback with a token
// endpoint and a CA of its own, its nodes over the PowerShell protocol on
// in-process pipes). A Cluster document creates its simulated cluster on
// first use: its nodes, the Arc resource bridge, a logical network.

// Names the embedded platform gives a cluster's Azure side.
const (
	embeddedSubscription  = "00000000-0000-0000-0000-000000000000"
	embeddedLogicalNet    = "sim-lnet"
	embeddedLocationGroup = "sim"
)

// EmbeddedName is the registry name of the driver on the embedded simulated
// Azure Local: a Cluster's `driver: sim` (the spec's default driver).
const EmbeddedName = "sim"

// EmbeddedSpec is the simulated cluster the embedded platform makes for a
// Cluster document named name with nodes: what `tlreconcile sim init` creates
// ahead of the first plan, so both agree on its custom location.
func EmbeddedSpec(name string, nodes []string) cluster.Spec {
	return cluster.Spec{Name: name, CustomLocation: embeddedCustomLocation(name), Nodes: nodes}
}

// EmbeddedFactory returns the driver on the embedded simulated Azure Local
// under cfg.StateDir.
func EmbeddedFactory(cfg drivers.Config) (drivers.Driver, error) {
	e := &embedded{stateDir: cfg.StateDir, clusters: map[string]*embeddedCluster{}}
	d := New(e.resolve)
	d.onClose = e.close
	return d, nil
}

type embedded struct {
	stateDir string
	mu       sync.Mutex
	clusters map[string]*embeddedCluster
}

// embeddedCluster is one simulated cluster's platform in this process.
type embeddedCluster struct {
	host   *cluster.Host
	srv    *arm.Server
	cancel context.CancelFunc
	ep     Endpoint
}

func embeddedCustomLocation(name string) string {
	return "/subscriptions/" + embeddedSubscription + "/resourceGroups/" + embeddedLocationGroup +
		"/providers/Microsoft.ExtendedLocation/customLocations/" + name
}

// resolve starts (once per cluster) the simulated platform of ref.
func (e *embedded) resolve(ctx context.Context, ref drivers.ClusterRef) (Endpoint, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ec, ok := e.clusters[ref.Name]; ok {
		return ec.ep, nil
	}
	if len(ref.Nodes) == 0 || strings.ContainsAny(ref.Name, `/\.`) {
		return Endpoint{}, fmt.Errorf("a simulated cluster needs a plain name and at least one node: %w", drivers.ErrInvalidArgument)
	}
	ec, err := e.start(ctx, ref)
	if err != nil {
		return Endpoint{}, fmt.Errorf("start the simulated Azure Local under %s: %w", e.stateDir, err)
	}
	e.clusters[ref.Name] = ec
	return ec.ep, nil
}

func (e *embedded) start(ctx context.Context, ref drivers.ClusterRef) (*embeddedCluster, error) {
	cs := EmbeddedSpec(ref.Name, ref.Nodes)
	host, err := cluster.Open(e.stateDir, cluster.Options{Clusters: []cluster.Spec{cs}, GuestAgent: embeddedAgent{}})
	if err != nil {
		return nil, err
	}
	srv, err := arm.New(e.stateDir, host, arm.Options{CustomLocations: []string{cs.CustomLocation}})
	if err != nil {
		_ = host.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	base, err := srv.Start(sctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		_ = host.Close()
		return nil, err
	}
	ec := &embeddedCluster{host: host, srv: srv, cancel: cancel}
	if ec.ep, err = embeddedEndpoint(e.stateDir, base, ref, host); err == nil {
		err = ensureLogicalNetwork(ctx, ec.ep)
	}
	if err != nil {
		ec.stop()
		return nil, err
	}
	return ec, nil
}

// embeddedEndpoint reaches the simulated cluster as a real one is reached:
// a client-secret credential against the sim's token endpoint, a transport
// that trusts the sim's CA only, SSH-like sessions to its nodes.
func embeddedEndpoint(stateDir, base string, ref drivers.ClusterRef, host *cluster.Host) (Endpoint, error) {
	hc, err := simTransport(filepath.Join(stateDir, "tls", arm.CAFile))
	if err != nil {
		return Endpoint{}, err
	}
	c := simCloud(base)
	cred, err := simCredential(c, arm.DefaultTenant, hc)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Cloud: c, Credential: cred, HTTP: hc, Subscription: embeddedSubscription,
		ResourceGroup: "sim-" + ref.Name, Location: arm.DefaultLocation, CustomLocation: embeddedCustomLocation(ref.Name),
		Nodes: node.NewTransport(host, ref.Name), LogicalNetwork: embeddedLogicalNet, GuestIdentity: true,
		Infrastructure: []string{ref.Name + "-arcbridge"},
		Retry:          policy.RetryOptions{MaxRetries: 4, RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 5 * time.Second},
		PollFrequency:  50 * time.Millisecond}, nil
}

// ensureLogicalNetwork gives a new simulated cluster the logical network its
// VMs join, ep.LogicalNetwork (the administrator makes it on a real cluster).
func ensureLogicalNetwork(ctx context.Context, ep Endpoint) error {
	c, err := newARMClient(armConfig{Cloud: ep.Cloud, Credential: ep.Credential, Transport: ep.HTTP,
		Subscription: ep.Subscription, ResourceGroup: ep.ResourceGroup, Location: ep.Location,
		CustomLocation: ep.CustomLocation, Retry: ep.Retry, PollFrequency: ep.PollFrequency})
	if err != nil {
		return err
	}
	return c.ensureLogicalNetwork(ctx, ep.LogicalNetwork)
}

// ensureLogicalNetwork makes the logical network name unless it exists.
func (c *armClient) ensureLogicalNetwork(ctx context.Context, name string) error {
	path := c.hciPath("logicalNetworks", name)
	if err := c.get(ctx, path, nil); err == nil {
		return nil
	} else if !isNotFound(err) {
		return err
	}
	body := map[string]any{"location": c.cfg.Location, "extendedLocation": c.extendedLocation(),
		"properties": map[string]any{"vmSwitchName": "ConvergedSwitch"}}
	resp, err := c.do(ctx, http.MethodPut, path, body, http.StatusOK, http.StatusCreated)
	if err != nil {
		return err
	}
	_, err = wait[struct{}](ctx, c, resp, "azure-async-operation")
	return err
}

func (ec *embeddedCluster) stop() error {
	ec.cancel()
	return errors.Join(ec.srv.Close(), ec.host.Close())
}

func (e *embedded) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for name, ec := range e.clusters {
		errs = append(errs, ec.stop())
		delete(e.clusters, name)
	}
	return errors.Join(errs...)
}
