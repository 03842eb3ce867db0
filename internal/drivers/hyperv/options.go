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
//	  clustered: true               # make created VMs cluster roles (default: more than one node)
//	  timeout: 10m                  # one script's limit
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
	Timeout                  string                 `json:"timeout"`
	ConnectTimeout           string                 `json:"connectTimeout"`

	timeout, connectTimeout time.Duration
}

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
