package hyperv

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Transport starts the nodes' PowerShell processes (psnode.Transport). It is named here so
// that WithTransport can be called, in tests with a fake host, without importing psnode.
type Transport = psnode.Transport

// TransportFactory builds the transport for a cluster from its reference and parsed options.
type TransportFactory func(ref drivers.ClusterRef, opts *Options) (Transport, error)

func (d *Driver) defaultTransport(ref drivers.ClusterRef, o *Options) (Transport, error) {
	if o.Transport == TransportSSH {
		return psnode.NewSSHTransport(sshOptions(ref, o), d.log)
	}
	if len(ref.Nodes) > 1 {
		return nil, fmt.Errorf("cluster/%s: transport local reaches only this machine but the cluster has %d nodes; use transport: ssh, or run on a node with one-node clusters", ref.Name, len(ref.Nodes))
	}
	return &psnode.LocalTransport{Exe: o.PowerShell}, nil
}

// sshOptions is what the SSH transport needs from the cluster's options.
func sshOptions(ref drivers.ClusterRef, o *Options) psnode.SSHOptions {
	nodes := make(map[string]psnode.Endpoint, len(o.Nodes))
	for n, no := range o.Nodes {
		nodes[n] = psnode.Endpoint{Host: no.Host, Port: no.Port, User: no.User}
	}
	return psnode.SSHOptions{
		Cluster: ref.Name, Nodes: nodes, User: o.User, Port: o.Port,
		IdentityFile: o.IdentityFile, Agent: o.Agent, KnownHosts: o.KnownHosts,
		InsecureSkipHostKeyCheck: o.InsecureSkipHostKeyCheck,
		PowerShell:               o.PowerShell, ConnectTimeout: o.connectTimeout,
	}
}
