package hypervfake

import (
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

// Registry is a driver registry whose hyperv driver reaches every node
// through h, so that a frontend's whole flow (apply -f, watch) runs against
// the fake host unchanged.
func Registry(h *Host) *drivers.Registry {
	reg := drivers.NewRegistry()
	reg.Register(hyperv.Name, func(cfg drivers.Config) (drivers.Driver, error) {
		return hyperv.New(cfg, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) { return h.Transport(), nil }))
	})
	return reg
}

// DesiredYAML declares cluster "hv" on the hyperv driver (nodes node1 to
// node3, live-migration IPsec wanted, an image store) and one running
// trusted-launch VM tl-01: the desired state of the frontends' flow tests.
const DesiredYAML = `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: hv}
spec:
  driver: hyperv
  nodes: [node1, node2, node3]
  liveMigration: {encryption: ipsec}
  options:
    transport: ssh
    vmPath: 'C:\ClusterStorage\Volume1\VMs'
    imageStore:
      microsoftwindowsdesktop/windows-11/win11-22h2-avd/22621.2428.231001: 'C:\ClusterStorage\Images\win11.vhdx'
---
apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata: {name: tl-01, cluster: hv}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: 2
  memoryMB: 4096
  power: Running
`
