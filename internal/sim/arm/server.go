package arm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"
)

// API versions the sim serves, one per resource provider, as in the spec
// bundle of ../shared/testdata/azure-rest-api-specs.
const (
	StackHCIAPIVersion      = "2024-01-01"
	HybridComputeAPIVersion = "2025-01-13"
)

// Defaults of Options.
const (
	DefaultTenant         = "72f988bf-0000-4000-8000-00000000cafe"
	DefaultLocation       = "eastus"
	DefaultCustomLocation = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sim/providers/Microsoft.ExtendedLocation/customLocations/sim-cluster"
)

// Options configure a Server. The zero value serves one simulated cluster at
// DefaultCustomLocation and completes long-running operations at the next poll.
type Options struct {
	// Tenant is the tenant named in 401 challenges (tokens are issued for
	// whichever tenant a client asks).
	Tenant string
	// Location is the Azure region of the operation status resources.
	Location string
	// CustomLocations are the custom locations of the simulated clusters; an
	// Azure Local resource whose extendedLocation names another is refused.
	CustomLocations []string
	// OperationDelay is how long a long-running operation stays InProgress.
	OperationDelay time.Duration
	// PageSize is the most members one page of a list holds; a longer list
	// carries a nextLink (DefaultPageSize when zero or less).
	PageSize int
	// Clients, when not empty, are the client IDs and secrets the token
	// endpoint accepts; empty accepts any client with a non-empty secret.
	Clients map[string]string
}

func (o Options) withDefaults() Options {
	if o.Tenant == "" {
		o.Tenant = DefaultTenant
	}
	if o.Location == "" {
		o.Location = DefaultLocation
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if len(o.CustomLocations) == 0 {
		o.CustomLocations = []string{DefaultCustomLocation}
	}
	return o
}

// Server is the simulated ARM. All its state is in its state dir, so several
// Servers (in one process or several) on one state dir serve one truth.
type Server struct {
	opts     Options
	store    *store
	host     Host
	caPEM    []byte
	cert     tls.Certificate
	tokenKey []byte
	catalog  []ImageIdentifier

	mu  sync.Mutex
	srv *http.Server
	url string

	crashAt func(step string) error // tests: simulate a kill between writes
}

// step is where a test's crash hook simulates a kill between two writes:
// the hook's error stops the request there, with no further write.
func (s *Server) step(name string) error {
	if s.crashAt != nil {
		return s.crashAt(name)
	}
	return nil
}

// New opens (creating on first use) the ARM state under stateDir/arm and the
// TLS material under stateDir/tls. host carries out what ARM asks of the
// cluster; it must not be nil.
func New(stateDir string, host Host, opts Options) (*Server, error) {
	if host == nil {
		return nil, errors.New("arm: new server: a Host is required (MemoryHost is the stand-in for tests)")
	}
	caPEM, cert, err := loadOrCreateTLS(filepath.Join(stateDir, "tls"))
	if err != nil {
		return nil, err
	}
	root := filepath.Join(stateDir, "arm")
	key, err := loadOrCreateKey(filepath.Join(root, "token.key"))
	if err != nil {
		return nil, fmt.Errorf("arm: token key: %w", err)
	}
	catalog, err := builtinCatalog()
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts.withDefaults(), store: &store{root: root}, host: host,
		caPEM: caPEM, cert: cert, tokenKey: key, catalog: catalog}, nil
}

// CACertPEM is the certificate of the CA that signed the server's
// certificate: what a client trusts to talk to this sim (and nothing else).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CertPool is a pool holding only CACertPEM.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s.caPEM)
	return p
}

// TLSConfig is the server side TLS configuration, for serving Handler on a
// listener of the caller's own (httptest.NewUnstartedServer, for one).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
}

// Start serves HTTPS on addr ("127.0.0.1:0" when empty) until ctx ends or
// Close is called, and returns the base URL, e.g. https://127.0.0.1:41234:
// the ARM endpoint and the identity authority host at once.
func (s *Server) Start(ctx context.Context, addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("arm: server already started at " + s.url)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("arm: listen on %s: %w", addr, err)
	}
	s.srv = &http.Server{Handler: s.Handler(), TLSConfig: s.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	s.url = "https://" + ln.Addr().String()
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	return s.url, nil
}

// URL is the base URL Start returned, or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// TokenURL is the OAuth2 token endpoint of tenant on the server started at
// baseURL.
func TokenURL(baseURL, tenant string) string { return baseURL + "/" + tenant + "/oauth2/v2.0/token" }

// Close stops serving; the state stays in the state dir.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	// Requests in flight get a second to finish; a connection that never
	// sent one (StateNew) would otherwise hold Shutdown for its whole
	// timeout, so what is left then is closed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}
