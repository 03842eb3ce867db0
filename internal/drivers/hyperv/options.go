package hyperv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Options are the Cluster document's driver options (spec.options) for driver hyperv.
//
//	options:
//	  transport: ssh                # local (default) | ssh
//	  powershell: powershell.exe    # executable; local default pwsh (powershell.exe on Windows), ssh default powershell.exe
//	  user: svc-tlreconcile         # ssh user (default: $USER)
//	  port: 22
//	  identityFile: ~/.ssh/id_ed25519
//	  agent: true                   # also offer the keys of $SSH_AUTH_SOCK
//	  knownHosts: ~/.ssh/known_hosts
//	  insecureSkipHostKeyCheck: false
//	  nodes: {node1: {host: 10.0.0.11}, node2: {host: 10.0.0.12, port: 2222, user: admin2}}
//	  imageStore: {"microsoftwindowsdesktop/windows-11/win11-22h2-avd/22621.2428.231001": 'C:\ClusterStorage\Images\w11.vhdx'}
//	  vmPath: 'C:\ClusterStorage\Volume1\VMs'   # where create-vm puts VMs (default: the host's VirtualMachinePath)
//	  clustered: true               # make created VMs cluster roles (default: more than one node); needs a CSV vmPath
//	  migrationIPsec: {auth: certificate, certificateAuthority: 'CN=Contoso Root CA'}  # default auth: kerberos
//	  timeout: 10m                  # one script's limit
//	  guestCredential:              # the attest op's PowerShell Direct sign-in to the guests
//	    user: 'tlr-attest' # a dedicated local account in the guest images
//	    password: {fromEnv: TLR_GUEST_PASSWORD}   # or {fromFile: PATH}; never the password
//	  guestAgentPath: 'C:\Program Files\tlreconcile\tlreconcile.exe'   # the agent in the guests
type Options struct {
	Transport                string                 `json:"transport"`
	PowerShell               string                 `json:"powershell"`
	User                     string                 `json:"user"`
	Port                     int                    `json:"port"`
	IdentityFile             string                 `json:"identityFile"`
	Agent                    bool                   `json:"agent"`
	KnownHosts               string                 `json:"knownHosts"`
	InsecureSkipHostKeyCheck bool                   `json:"insecureSkipHostKeyCheck"`
	Nodes                    map[string]NodeOptions `json:"nodes"`
	ImageStore               map[string]string      `json:"imageStore"`
	VMPath                   string                 `json:"vmPath"`
	Clustered                *bool                  `json:"clustered"`
	MigrationIPsec           MigrationIPsec         `json:"migrationIPsec"`
	Timeout                  string                 `json:"timeout"`
	ConnectTimeout           string                 `json:"connectTimeout"`
	GuestCredential          *GuestCredential       `json:"guestCredential"`
	GuestAgentPath           string                 `json:"guestAgentPath"`

	timeout, connectTimeout time.Duration
}

// GuestCredential is the account the attest op signs in to the guests with through PowerShell
// Direct (DESIGN §8): a user of the guests (a domain account, or one every image has) and where
// its password is. The password is read when an attestation runs, goes to the owner node in
// the request to the node's PowerShell (stdin of its host loop, never a command line) and
// nowhere else.
type GuestCredential struct {
	User     string     `json:"user"`
	Password *SecretRef `json:"password"`
}

// SecretRef names where a secret is, as the YAML writes it (drivers.SecretRef's fields).
type SecretRef struct {
	FromEnv  string `json:"fromEnv"`
	FromFile string `json:"fromFile"`
}

// DefaultGuestAgentPath is where the attest op looks for tlreconcile's agent in a Windows guest.
const DefaultGuestAgentPath = `C:\Program Files\tlreconcile\tlreconcile.exe`

// MigrationIPsec is how enable-migration-ipsec authenticates the nodes to each other: Kerberos
// (domain-joined clusters, the default) or machine certificates from one root CA (workgroup
// clusters have no Kerberos).
type MigrationIPsec struct {
	Auth                 string `json:"auth"` // kerberos | certificate
	CertificateAuthority string `json:"certificateAuthority"`
}

// Main-mode authentications of MigrationIPsec.
const (
	AuthKerberos    = "kerberos"
	AuthCertificate = "certificate"
)

// csvRoot is where Cluster Shared Volumes are mounted on every node of a failover cluster.
const csvRoot = `C:\ClusterStorage\`

// NodeOptions say how to reach one node over SSH.
type NodeOptions struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	User string `json:"user"`
}

// Transports.
const (
	TransportLocal = "local"
	TransportSSH   = "ssh"
)

// ParseOptions reads a ClusterRef's options; unknown keys are errors so that typos surface.
func ParseOptions(ref drivers.ClusterRef) (*Options, error) {
	o := &Options{}
	if len(ref.Options) > 0 {
		b, err := json.Marshal(ref.Options)
		if err != nil {
			return nil, fmt.Errorf("cluster/%s: options: %w", ref.Name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(o); err != nil {
			return nil, fmt.Errorf("cluster/%s: options: %w; see the README section on the hyperv driver for the option names", ref.Name, err)
		}
	}
	if o.Transport == "" {
		o.Transport = TransportLocal
	}
	if o.Transport != TransportLocal && o.Transport != TransportSSH {
		return nil, fmt.Errorf("cluster/%s: options: transport %q: want local or ssh", ref.Name, o.Transport)
	}
	if o.PowerShell == "" {
		o.PowerShell = "pwsh"
		if runtime.GOOS == "windows" || o.Transport == TransportSSH {
			o.PowerShell = "powershell.exe"
		}
	}
	if o.Port == 0 {
		o.Port = 22
	}
	var err error
	if o.timeout, err = duration(o.Timeout, 10*time.Minute); err != nil {
		return nil, fmt.Errorf("cluster/%s: options: timeout: %w", ref.Name, err)
	}
	if o.connectTimeout, err = duration(o.ConnectTimeout, 20*time.Second); err != nil {
		return nil, fmt.Errorf("cluster/%s: options: connectTimeout: %w", ref.Name, err)
	}
	for n := range o.Nodes {
		if !containsFold(ref.Nodes, n) {
			return nil, fmt.Errorf("cluster/%s: options: nodes: %q is not one of the cluster's nodes %v", ref.Name, n, ref.Nodes)
		}
	}
	if err := o.checkPlacement(ref); err != nil {
		return nil, err
	}
	if err := o.checkGuest(ref); err != nil {
		return nil, err
	}
	o.IdentityFile = expandHome(o.IdentityFile)
	o.KnownHosts = expandHome(o.KnownHosts)
	return o, nil
}

// imagePath finds the VHDX for an image in the image store (keys compare case-insensitively).
func (o *Options) imagePath(img *drivers.Image) (string, bool) {
	if img == nil {
		return "", false
	}
	key := strings.Join([]string{img.Publisher, img.Offer, img.Sku, img.Version}, "/")
	for k, v := range o.ImageStore {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func (o *Options) clustered(ref drivers.ClusterRef) bool {
	if o.Clustered != nil {
		return *o.Clustered
	}
	return len(ref.Nodes) > 1
}

func duration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 30s or 10m", s)
	}
	return d, nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// checkPlacement refuses an IPsec auth that names no authority.
func (o *Options) checkPlacement(ref drivers.ClusterRef) error {
	switch o.MigrationIPsec.Auth {
	case "":
		o.MigrationIPsec.Auth = AuthKerberos
	case AuthKerberos:
	case AuthCertificate:
		if strings.TrimSpace(o.MigrationIPsec.CertificateAuthority) == "" {
			return fmt.Errorf("cluster/%s: options: migrationIPsec: auth certificate needs certificateAuthority, the root CA's name (e.g. 'CN=Contoso Root CA'): %w", ref.Name, drivers.ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("cluster/%s: options: migrationIPsec.auth %q: use kerberos (domain-joined nodes) or certificate (workgroup clusters): %w", ref.Name, o.MigrationIPsec.Auth, drivers.ErrInvalidArgument)
	}
	return nil
}

// checkClusteredPath refuses a clustered create (a cluster role, which any node may own) whose
// files would go to storage only one node sees: the vmPath must be a Cluster Shared Volume.
func (o *Options) checkClusteredPath(ref drivers.ClusterRef) error {
	if !o.clustered(ref) || underCSV(o.VMPath) {
		return nil
	}
	where := "the host's local default path (no vmPath option)"
	if o.VMPath != "" {
		where = fmt.Sprintf("%.120q", o.VMPath)
	}
	return fmt.Errorf("cluster/%s: options: vmPath: clustered VMs are cluster roles that every node must reach, but their files would go to %s: set vmPath to a Cluster Shared Volume folder such as C:\\ClusterStorage\\Volume1\\VMs, or set clustered: false: %w", ref.Name, where, drivers.ErrInvalidArgument)
}

// underCSV reports whether path lies inside a Cluster Shared Volume mount (compared with
// the separator, case-insensitively, as Windows does).
func underCSV(path string) bool {
	p := strings.ReplaceAll(path, "/", `\`)
	if len(p) <= len(csvRoot) || !strings.EqualFold(p[:len(csvRoot)], csvRoot) {
		return false
	}
	return !strings.Contains(p, `\..`)
}

// checkGuest refuses a guest credential without a user or a password reference, and sets the
// agent's default path.
func (o *Options) checkGuest(ref drivers.ClusterRef) error {
	if o.GuestAgentPath == "" {
		o.GuestAgentPath = DefaultGuestAgentPath
	}
	g := o.GuestCredential
	if g == nil {
		return nil
	}
	if strings.TrimSpace(g.User) == "" {
		return fmt.Errorf("cluster/%s: options: guestCredential.user is empty: name the guest account PowerShell Direct signs in with (a dedicated local account of the guest images, e.g. 'tlr-attest'): %w", ref.Name, drivers.ErrInvalidArgument)
	}
	if g.Password == nil || (g.Password.FromEnv == "") == (g.Password.FromFile == "") {
		return fmt.Errorf("cluster/%s: options: guestCredential.password: give exactly one of {fromEnv: VARIABLE} or {fromFile: PATH}, never the password itself: %w", ref.Name, drivers.ErrInvalidArgument)
	}
	return nil
}

// guestPassword reads the guest credential's password now (DESIGN: secrets by reference).
func (o *Options) guestPassword() (string, error) {
	p := o.GuestCredential.Password
	return drivers.ResolveSecret("options.guestCredential.password", &drivers.SecretRef{FromEnv: p.FromEnv, FromFile: p.FromFile})
}
