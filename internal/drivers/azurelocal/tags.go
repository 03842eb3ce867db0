package azurelocal

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// On Azure Local the annotations tlreconcile keeps on a VM are ARM tags on
// its Arc machine (DESIGN §4): visible in the portal, kept by ARM through
// moves and failovers, and within ARM's tag limits (50 tags per resource, a
// name of at most 512 characters, a value of at most 256; the names here are
// lower case because ARM treats tag names case-insensitively).
const (
	tagManagedBy    = "tlreconcile-managed-by"
	tagSpecHash     = "tlreconcile-spec-hash"
	tagProtect      = "tlreconcile-protect"
	tagVTPMIdentity = "tlreconcile-vtpm-identity"
	tagNode         = "tlreconcile-node"
	maxTagValue     = 256
	maxTags         = 50
)

var hexTag = regexp.MustCompile(`^[0-9a-f]{1,128}$`)

// annotationsFromTags reads the annotations from a machine's tags; nil when
// the machine is not managed by tlreconcile. A tag edited by hand into a
// value tlreconcile never writes is an error naming the tag, so a damaged
// record is reported instead of trusted.
func annotationsFromTags(tags map[string]string) (*drivers.Annotations, error) {
	if tags[tagManagedBy] != drivers.ManagedBy {
		return nil, nil
	}
	a := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: tags[tagSpecHash],
		VTPMIdentity: tags[tagVTPMIdentity], Node: tags[tagNode]}
	if v, ok := tags[tagProtect]; ok {
		p, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("tag %s is %q, want true or false (edited by hand?)", tagProtect, v)
		}
		a.Protect = p
	}
	for name, v := range map[string]string{tagSpecHash: a.SpecHash, tagVTPMIdentity: a.VTPMIdentity} {
		if v != "" && !hexTag.MatchString(v) {
			return nil, fmt.Errorf("tag %s is %q, want lower-case hex (edited by hand?)", name, v)
		}
	}
	return a, nil
}

// tagsWithAnnotations is tags with tlreconcile's tags replaced by a's; the
// machine's other tags are kept as they are. It refuses values over ARM's
// limits instead of letting ARM truncate or reject half a write.
func tagsWithAnnotations(tags map[string]string, a *drivers.Annotations) (map[string]string, error) {
	out := make(map[string]string, len(tags)+5)
	for k, v := range tags {
		switch k {
		case tagManagedBy, tagSpecHash, tagProtect, tagVTPMIdentity, tagNode:
			continue
		}
		out[k] = v
	}
	if a == nil {
		return out, nil
	}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(tagManagedBy, a.ManagedBy)
	set(tagSpecHash, a.SpecHash)
	set(tagProtect, strconv.FormatBool(a.Protect))
	set(tagVTPMIdentity, a.VTPMIdentity)
	set(tagNode, a.Node)
	for k, v := range out {
		if len(v) > maxTagValue {
			return nil, fmt.Errorf("tag %s would be %d characters; ARM allows %d: %w", k, len(v), maxTagValue, drivers.ErrInvalidArgument)
		}
	}
	if len(out) > maxTags {
		return nil, fmt.Errorf("the machine would have %d tags; ARM allows %d: remove some of its other tags: %w", len(out), maxTags, drivers.ErrInvalidArgument)
	}
	return out, nil
}
