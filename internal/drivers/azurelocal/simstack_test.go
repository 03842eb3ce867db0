package azurelocal

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/sim/node"
)

// simStack is the simulated Azure Local a test stands up under dir: the
// cluster model, the ARM server on loopback, and the client pieces a real
// credential chain needs (a transport that trusts the sim's CA, the sim's
// cloud configuration, a credential from its token endpoint). Every test
// platform of this package (simPlatform, contractPlatform, e2ePlatform,
// perfPlatform, benchPlatform) starts from it.
type simStack struct {
	dir   string
	host  *cluster.Host
	srv   *arm.Server
	hc    *http.Client // trusts the sim's CA only
	cloud cloud.Configuration
	cred  azcore.TokenCredential
}

// startSimStack starts the stack in dir (t.TempDir() when ""), with the
// given clusters (nil: the default one); tb's cleanup stops it.
func startSimStack(tb testing.TB, dir string, clusters []cluster.Spec) *simStack {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	host, err := cluster.Open(dir, cluster.Options{Clusters: clusters, GuestAgent: embeddedAgent{}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = host.Close() })
	var locations []string
	for _, c := range clusters {
		locations = append(locations, c.CustomLocation)
	}
	srv, err := arm.New(dir, host, arm.Options{CustomLocations: locations})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, err := srv.Start(ctx, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cancel(); _ = srv.Close() })
	hc, err := simTransport(filepath.Join(dir, "tls", arm.CAFile))
	if err != nil {
		tb.Fatal(err)
	}
	c := simCloud(base)
	cred, err := simCredential(c, arm.DefaultTenant, hc)
	if err != nil {
		tb.Fatal(err)
	}
	return &simStack{dir: dir, host: host, srv: srv, hc: hc, cloud: c, cred: cred}
}

// endpoint reaches the default cluster through tr (nil: s.hc): the place in
// Azure, the nodes, the logical network "lnet" and the resource bridge.
// Callers set the guest agent, retries and polling they need.
func (s *simStack) endpoint(tr policy.Transporter) Endpoint {
	if tr == nil {
		tr = s.hc
	}
	return Endpoint{Cloud: s.cloud, Credential: s.cred, HTTP: tr,
		Subscription: "00000000-0000-0000-0000-000000000000", ResourceGroup: "sim", Location: arm.DefaultLocation,
		CustomLocation: arm.DefaultCustomLocation, Nodes: node.NewTransport(s.host, simClusterName), LogicalNetwork: "lnet",
		Infrastructure: []string{simClusterName + "-arcbridge"}}
}

// checked is s.hc with every ARM resource call checked against the spec.
func (s *simStack) checked(t *testing.T) *http.Client {
	return &http.Client{Transport: specChecked{spec: loadSpec(t), t: t, next: s.hc.Transport}}
}

// withLogicalNetwork makes the logical network ep's VMs join, as the
// embedded platform does for a new cluster (ensureLogicalNetwork).
func withLogicalNetwork(tb testing.TB, ep Endpoint) Endpoint {
	tb.Helper()
	if err := ensureLogicalNetwork(context.Background(), ep); err != nil {
		tb.Fatal(err)
	}
	return ep
}
