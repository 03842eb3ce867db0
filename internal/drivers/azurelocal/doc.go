// Package azurelocal is the driver for Azure Local (Arc) VMs with the
// TrustedLaunch security type (DESIGN v2 §1.1, §4): VMs are created, changed,
// powered and deleted through Azure Resource Manager with the Azure SDK for
// Go's runtime (azcore pipelines with retries that honour Retry-After,
// long-running-operation pollers, azidentity credentials), and what ARM does
// not show (the guest-state protection key, the host agents, file access,
// live-migration encryption) is read from the VM's owner node over
// PowerShell (internal/drivers/psnode).
//
// Registered as driver azurelocal for real clusters (Factory: options.azure,
// DefaultAzureCredential, the nodes over SSH or local PowerShell), and as
// EmbeddedFactory against the simulated Azure Local of internal/sim in this
// process, which `driver: sim` switches to when the old sim driver goes
// (issue 11). Its profile is drivers.AzureLocal.
package azurelocal
