package arm

import (
	"errors"
	"strings"
	"time"
)

// SkipTokenAt is the $skiptoken the server would put in the nextLink of the
// list at path after a page ending at name, had it issued it at issued: for
// the tests of expired tokens, which cannot wait an hour.
func SkipTokenAt(s *Server, path, name string, issued time.Time) string {
	return s.signSkipToken(skipToken{List: strings.ToLower(path), After: cursor{Name: strings.ToLower(name)}, Issued: issued.Unix()})
}

// ErrKilled is what CrashAt's hook returns: it stands for SIGKILL, the
// request stopping at the step with no further write (the group lock goes,
// as a dead process's flock does).
var ErrKilled = errors.New("killed")

// CrashAt makes s die at the named step of its writes ("accept", "host",
// "commit": see operation); "" heals it.
func CrashAt(s *Server, step string) {
	s.crashAt = func(at string) error {
		if step != "" && at == step {
			return ErrKilled
		}
		return nil
	}
}
