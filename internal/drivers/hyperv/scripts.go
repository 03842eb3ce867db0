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

// Scripts is the driver's embedded catalog: the host loop scripts/host.ps1 (with the helpers
// every op script uses) and one script per op and per query. A fake host identifies requests
// by it.
func Scripts() psnode.Scripts { return psnode.NewScripts(scriptFS, "scripts", scriptHost) }
