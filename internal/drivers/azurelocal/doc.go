// Package azurelocal is the driver for Azure Local (Arc) VMs with the
// TrustedLaunch security type (DESIGN v2 §1.1, §4): VMs are created, changed,
// powered and deleted through Azure Resource Manager with the Azure SDK for
// Go's runtime (azcore pipelines with retries that honour Retry-After,
// long-running-operation pollers, azidentity credentials), and what ARM does
// not show (the guest-state protection key, the host agents, file access,
// live-migration encryption) is read from the VM's owner node over
// PowerShell (internal/drivers/psnode).
//
// This is being built in steps (issue 11). What exists: the ARM client
// layer (arm.go, models.go, armerrors.go, credential.go), tested against the
// simulated ARM of internal/sim/arm with every request and response checked
// against Microsoft's specification. The driver itself (Observe, Apply, the
// Profile) and the `driver: sim` switch come next; nothing registers this
// package yet.
package azurelocal
