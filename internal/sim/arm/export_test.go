package arm

import (
	"strings"
	"time"
)

// SkipTokenAt is the $skiptoken the server would put in the nextLink of the
// list at path after a page ending at name, had it issued it at issued: for
// the tests of expired tokens, which cannot wait an hour.
func SkipTokenAt(s *Server, path, name string, issued time.Time) string {
	return s.signSkipToken(skipToken{List: strings.ToLower(path), After: cursor{Name: strings.ToLower(name)}, Issued: issued.Unix()})
}
