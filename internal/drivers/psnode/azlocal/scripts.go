package azlocal

import (
	"embed"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

//go:embed scripts/*.ps1
var scriptFS embed.FS

// Script names: the query and one script per owner-node op (the op names of DESIGN §4).
const (
	ScriptObserveNode               = "observe-node"
	ScriptMoveVM                    = "move-vm"
	ScriptSetSecureBoot             = "set-secure-boot"
	ScriptStartIGVmAgent            = "start-igvm-agent"
	ScriptRestrictFileAccess        = "restrict-file-access"
	ScriptEnableMigrationEncryption = "enable-migration-encryption"
	ScriptBackupGuestStateKeys      = "backup-guest-state-keys"
	scriptHelpers                   = "helpers"
)

// Scripts is the catalog: the host loop (scripts/helpers.ps1 followed by psnode's shared
// loop) and the request scripts above. A simulated node identifies requests by it.
func Scripts() psnode.Scripts { return psnode.NewHostScripts(scriptFS, "scripts", scriptHelpers) }
