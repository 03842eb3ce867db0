// Package azlocal is the wire contract between the azurelocal driver and an Azure Local node:
// the constant PowerShell scripts an owner node runs for what ARM does not show (observe-node)
// and for the owner-node ops of DESIGN §4 (move-vm, set-secure-boot, start-igvm-agent,
// restrict-file-access, enable-migration-encryption, backup-guest-state-keys), the Go types
// of their JSON parameters and answers, and the rules that read those answers the same way on
// both ends (who may hold a guest state file, whether live migration is encrypted). The driver
// sends these scripts through psnode; the simulated node (internal/sim/node) identifies them
// byte for byte and answers in the same types. It must not import a driver, the simulator,
// plan or apply, and it never carries key material: keys are named, never read.
package azlocal
