package azlocal

import "github.com/tlreconcile/tlreconcile/internal/drivers/psnode"

// IsInfrastructure reports whether err is a node's refusal to touch an infrastructure VM
// (the Arc resource bridge): a script error of category CategoryInfrastructure. The driver
// maps it to a blocked step; it is never retried.
func IsInfrastructure(err error) bool {
	se, ok := psnode.AsScriptError(err)
	return ok && se.Category == CategoryInfrastructure
}
