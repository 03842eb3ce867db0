// Package arm is the simulated Azure Resource Manager of the simulated Azure
// Local: a real HTTPS server that serves Arc machines (Microsoft.HybridCompute
// 2025-01-13) with their run commands, and the Azure Local VM resources
// (Microsoft.AzureStackHCI 2024-01-01: virtualMachineInstances,
// marketplaceGalleryImages, logicalNetworks, networkInterfaces,
// storageContainers) at the paths and api-versions of Microsoft's REST spec,
// with ARM's long-running operations (written so that a kill at any step
// completes on the next reader), paged lists (nextLink with a signed
// $skiptoken) at resource group and subscription scope, error bodies (405
// with Allow), bearer tokens issued by its own identity endpoint, injectable
// faults, and the platform's trusted-launch
// rules (the security profile is fixed at create; TrustedLaunch needs a vTPM
// and Secure Boot; images come from the built-in catalog). It owns the ARM
// resource state under its state dir (one JSON file per resource, atomic
// writes, file locks, so several processes share one truth) and nothing else:
// what happens inside the cluster (placing, starting, stopping, deleting a VM,
// running a command in a guest) is delegated to an injected Host. It must not
// import any driver, the planner or apply; it is the far end the azurelocal
// driver talks to, and must stay indistinguishable from real ARM except by its
// address.
package arm
