package hyperv

import (
	"embed"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

//go:embed scripts/*.ps1
var scriptFS embed.FS

// Script names besides the op names (drivers.OpKind strings are script names too).
const (
	ScriptObserve    = "observe"
	ScriptNodeStatus = "node-status"
	ScriptFindVM     = "find-vm"
	// ScriptDisableMigrationIPsec rolls back enable-migration-ipsec on a node.
	ScriptDisableMigrationIPsec = "disable-migration-ipsec"
	scriptHost                  = "host"
)

// Scripts is the driver's embedded catalog: the host loop (the helpers every op script uses,
// scripts/host.ps1, followed by psnode's shared loop) and one script per op and per query. A
// fake host identifies requests by it.
func Scripts() psnode.Scripts { return psnode.NewHostScripts(scriptFS, "scripts", scriptHost) }
