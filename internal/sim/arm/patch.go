package arm

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
)

// PATCH of marketplaceGalleryImages, logicalNetworks, networkInterfaces and
// storageContainers: the spec's *UpdateRequest of each has tags and nothing
// else, and each is a long-running operation with final-state-via
// azure-async-operation, answered 200 with the resource (provisioningState
// Accepted) as Microsoft's UpdateMarketplaceGalleryImage and
// UpdateStorageContainer examples are.

// tagsUpdatable is what those update models hold.
var tagsUpdatable = []string{"tags"}

// patchTags applies a tags-only update: tags replace the resource's tags
// (null or {} clears them); any other member is refused, naming it.
func (s *Server) patchTags(c *call) error {
	var upd map[string]json.RawMessage
	if err := decodeBody(c, &upd); err != nil {
		return err
	}
	if bad := unknownMembers(upd, tagsUpdatable); len(bad) > 0 {
		return badRequest("InvalidRequestContent",
			"the update of a %s has only tags; %s cannot change with PATCH: send tags alone, or PUT the whole resource", c.kind.typ, strings.Join(bad, ", "))
	}
	var tags map[string]string
	if raw, ok := upd["tags"]; ok {
		if err := json.Unmarshal(raw, &tags); err != nil {
			return badRequest("InvalidRequestContent", "tags must be an object of string values: %v", err)
		}
	}
	rec, unlock, err := s.lockedCurrent(c)
	if err != nil {
		return err
	}
	defer unlock()
	if rec == nil {
		return s.notFound(c)
	}
	if _, ok := upd["tags"]; ok {
		rec.Resource.Tags = tags
	}
	if sd := rec.Resource.SystemData; sd != nil {
		sd.LastModifiedBy, sd.LastModifiedByType, sd.LastModifiedAt = c.claims.ClientID, "Application", time.Now().UTC()
	}
	rec.Resource.Properties["provisioningState"] = "Accepted"
	return s.respondAccepted(c, rec, actUpdate, http.StatusOK)
}

// unknownMembers is the members of obj not in allowed (case-insensitive),
// sorted so the error reads the same every time.
func unknownMembers(obj map[string]json.RawMessage, allowed []string) []string {
	var bad []string
	for k := range obj {
		if !containsFold(allowed, k) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}
