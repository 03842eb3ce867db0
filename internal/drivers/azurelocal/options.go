package azurelocal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Options are a Cluster document's options for driver azurelocal (the
// schema's AzureLocalOptions; validate checks them first):
//
//	options:
//	  azure:
//	    subscriptionId: 00000000-0000-0000-0000-000000000000
//	    resourceGroup: hci-west-vms
//	    customLocation: /subscriptions/.../providers/Microsoft.ExtendedLocation/customLocations/hci-west
//	    location: westeurope
//	    cloud: AzurePublic          # AzureGovernment | AzureChina
//	  logicalNetwork: vm-lnet       # the network a new VM's NIC joins
//	  resourceBridgeVM: hci-west-arcbridge
//	  guestAgent: false             # the images carry tlreconcile's guest agent
//	  nodeAccess: {transport: ssh, user: svc-tlr, identityFile: ~/.ssh/id_ed25519}
//
// The credential is Azure's DefaultAzureCredential chain (environment,
// workload identity, managed identity, Azure CLI): no secret is ever in
// the YAML.
type Options struct {
	Azure            AzureOptions `json:"azure"`
	LogicalNetwork   string       `json:"logicalNetwork"`
	ResourceBridgeVM string       `json:"resourceBridgeVM"`
	GuestAgent       bool         `json:"guestAgent"`
	NodeAccess       NodeAccess   `json:"nodeAccess"`
}

// AzureOptions place the cluster's VMs in Azure.
type AzureOptions struct {
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
	CustomLocation string `json:"customLocation"`
	Location       string `json:"location"`
	Cloud          string `json:"cloud"`
}

// NodeAccess says how the nodes' PowerShell is reached.
type NodeAccess struct {
	Transport                string                `json:"transport"`
	PowerShell               string                `json:"powershell"`
	User                     string                `json:"user"`
	Port                     int                   `json:"port"`
	IdentityFile             string                `json:"identityFile"`
	Agent                    bool                  `json:"agent"`
	KnownHosts               string                `json:"knownHosts"`
	InsecureSkipHostKeyCheck bool                  `json:"insecureSkipHostKeyCheck"`
	Nodes                    map[string]nodeTarget `json:"nodes"`
	Timeout                  string                `json:"timeout"`
	ConnectTimeout           string                `json:"connectTimeout"`
}

type nodeTarget struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	User string `json:"user"`
}

// ParseOptions reads ref's options; unknown keys are errors.
func ParseOptions(ref drivers.ClusterRef) (*Options, error) {
	o := &Options{}
	b, err := json.Marshal(ref.Options)
	if err != nil {
		return nil, fmt.Errorf("cluster/%s: options: %w", ref.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(o); err != nil {
		return nil, fmt.Errorf("cluster/%s: options: %w; `tlreconcile validate` shows where (schema AzureLocalOptions)", ref.Name, err)
	}
	a := o.Azure
	if a.SubscriptionID == "" || a.ResourceGroup == "" || a.CustomLocation == "" || a.Location == "" {
		return nil, fmt.Errorf("cluster/%s: options.azure needs subscriptionId, resourceGroup, customLocation and location", ref.Name)
	}
	for n := range o.NodeAccess.Nodes {
		if !containsFold(ref.Nodes, n) {
			return nil, fmt.Errorf("cluster/%s: options.nodeAccess.nodes: %q is not one of the cluster's nodes %v", ref.Name, n, ref.Nodes)
		}
	}
	return o, nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// Factory is the registry's constructor for real clusters: ARM through
// DefaultAzureCredential, the nodes through local PowerShell or SSH.
func Factory(drivers.Config) (drivers.Driver, error) {
	return New(resolveReal), nil
}

// resolveReal builds a real cluster's endpoint from its options.
func resolveReal(_ context.Context, ref drivers.ClusterRef) (Endpoint, error) {
	o, err := ParseOptions(ref)
	if err != nil {
		return Endpoint{}, err
	}
	c, err := cloudByName(o.Azure.Cloud)
	if err != nil {
		return Endpoint{}, fmt.Errorf("options.azure.cloud: %w", err)
	}
	cred, err := defaultCredential(c)
	if err != nil {
		return Endpoint{}, err
	}
	tr, err := nodeTransport(ref, o.NodeAccess)
	if err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{Cloud: c, Credential: cred, Subscription: o.Azure.SubscriptionID, ResourceGroup: o.Azure.ResourceGroup,
		Location: o.Azure.Location, CustomLocation: o.Azure.CustomLocation, Nodes: tr,
		LogicalNetwork: o.LogicalNetwork, GuestIdentity: o.GuestAgent}
	if o.ResourceBridgeVM != "" {
		ep.Infrastructure = []string{o.ResourceBridgeVM}
	}
	return ep, nil
}

// nodeTransport is the local or SSH transport of the nodes.
func nodeTransport(ref drivers.ClusterRef, a NodeAccess) (psnode.Transport, error) {
	switch a.Transport {
	case "", "local":
		exe := a.PowerShell
		if exe == "" {
			exe = "pwsh"
			if runtime.GOOS == "windows" {
				exe = "powershell.exe"
			}
		}
		return &psnode.LocalTransport{Exe: exe}, nil
	case "ssh":
		connect, err := durationOr(a.ConnectTimeout, 20*time.Second)
		if err != nil {
			return nil, fmt.Errorf("options.nodeAccess.connectTimeout: %w", err)
		}
		nodes := map[string]psnode.Endpoint{}
		for n, t := range a.Nodes {
			nodes[n] = psnode.Endpoint{Host: t.Host, Port: t.Port, User: t.User}
		}
		exe := a.PowerShell
		if exe == "" {
			exe = "powershell.exe"
		}
		return psnode.NewSSHTransport(psnode.SSHOptions{Cluster: ref.Name, Nodes: nodes, User: a.User, Port: a.Port,
			IdentityFile: expandHome(a.IdentityFile), Agent: a.Agent, KnownHosts: expandHome(a.KnownHosts),
			InsecureSkipHostKeyCheck: a.InsecureSkipHostKeyCheck, PowerShell: exe, ConnectTimeout: connect},
			slog.New(slog.DiscardHandler))
	}
	return nil, fmt.Errorf("options.nodeAccess.transport %q: want local or ssh", a.Transport)
}

func durationOr(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, rest)
		}
	}
	return p
}
