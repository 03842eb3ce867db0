package arm

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
)

// decodeProps re-reads properties into a typed view of the fields a rule
// checks; the stored properties stay as the client sent them.
func decodeProps(props map[string]any, v any) *armError {
	b, _ := json.Marshal(props)
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("InvalidRequestContent", "the properties are not valid for this resource type: %v", err)
	}
	return nil
}

// checkCustomLocation refuses an Azure Local resource that is not in one of
// the simulated clusters' custom locations.
func (s *Server) checkCustomLocation(el *extendedLocation) *armError {
	if el == nil || el.Name == "" {
		return badRequest("InvalidExtendedLocation", "extendedLocation is required: set {\"type\": \"CustomLocation\", \"name\": %q}", s.opts.CustomLocations[0])
	}
	if el.Type != "CustomLocation" {
		return badRequest("InvalidExtendedLocation", "extendedLocation.type %q is not supported: use CustomLocation", el.Type)
	}
	for _, cl := range s.opts.CustomLocations {
		if eq(cl, el.Name) {
			return nil
		}
	}
	return badRequest("InvalidExtendedLocation", "the custom location %s is not one of this Azure Local's (%s)", el.Name, strings.Join(s.opts.CustomLocations, ", "))
}

func validateAzureLocal(s *Server, _ *call, res *resource, old *record) *armError {
	if err := s.checkCustomLocation(res.ExtendedLocation); err != nil {
		return err
	}
	if old != nil && old.Resource.ExtendedLocation != nil && !eq(old.Resource.ExtendedLocation.Name, res.ExtendedLocation.Name) {
		return propertyChange("extendedLocation", "a resource cannot move to another custom location")
	}
	return nil
}

func propertyChange(prop, why string) *armError {
	return badRequest("PropertyChangeNotAllowed", "Changing property '%s' is not allowed: %s. Delete the resource and create it again to change it.", prop, why)
}

type imageProps struct {
	OsType     string           `json:"osType"`
	Identifier *imageIdentifier `json:"identifier"`
	Version    *struct {
		Name string `json:"name"`
	} `json:"version"`
}

type imageIdentifier struct {
	Publisher string `json:"publisher"`
	Offer     string `json:"offer"`
	SKU       string `json:"sku"`
}

func (p imageProps) id() ImageIdentifier {
	id := ImageIdentifier{Publisher: p.Identifier.Publisher, Offer: p.Identifier.Offer, SKU: p.Identifier.SKU}
	if p.Version != nil {
		id.Version = p.Version.Name
	}
	return id
}

func validateImage(s *Server, c *call, res *resource, old *record) *armError {
	if err := validateAzureLocal(s, c, res, old); err != nil {
		return err
	}
	var p imageProps
	if err := decodeProps(res.Properties, &p); err != nil {
		return err
	}
	if p.OsType != "Windows" && p.OsType != "Linux" {
		return badRequest("InvalidParameter", "properties.osType is required: Windows or Linux")
	}
	if p.Identifier == nil || p.Identifier.Publisher == "" || p.Identifier.Offer == "" || p.Identifier.SKU == "" {
		return badRequest("InvalidParameter", "properties.identifier {publisher, offer, sku} is required for a marketplace gallery image")
	}
	if old != nil {
		var was imageProps
		if err := decodeProps(old.Resource.Properties, &was); err == nil && was.Identifier != nil && was.id() != p.id() {
			return propertyChange("identifier", "a marketplace gallery image keeps the image it was created from")
		}
	}
	return nil
}

// finishImage completes the download of a marketplace image.
func finishImage(_ context.Context, _ *Server, rec *record, _ *operation) error {
	st := statusOf(rec)
	st["downloadStatus"] = map[string]any{"downloadSizeInMB": 10240}
	st["progressPercentage"] = 100
	return nil
}

func finishPlain(context.Context, *Server, *record, *operation) error { return nil }

type nicProps struct {
	IPConfigurations []struct {
		Name       string `json:"name"`
		Properties *struct {
			Subnet *struct {
				ID string `json:"id"`
			} `json:"subnet"`
		} `json:"properties"`
	} `json:"ipConfigurations"`
}

func validateNIC(s *Server, c *call, res *resource, old *record) *armError {
	if err := validateAzureLocal(s, c, res, old); err != nil {
		return err
	}
	var p nicProps
	if err := decodeProps(res.Properties, &p); err != nil {
		return err
	}
	for _, ipc := range p.IPConfigurations {
		if ipc.Properties == nil || ipc.Properties.Subnet == nil || ipc.Properties.Subnet.ID == "" {
			continue
		}
		ln, err := s.store.get(ipc.Properties.Subnet.ID)
		if err != nil {
			return asARM(err)
		}
		if ln == nil || !eq(ln.Resource.Type, kindLogicalNetwork.typ) {
			return linkedNotFound("logical network", ipc.Properties.Subnet.ID)
		}
	}
	return nil
}

func linkedNotFound(what, id string) *armError {
	return badRequest("LinkedResourceNotFound", "the %s %s was not found: create it first", what, id)
}

// finishNIC gives the interface a stable locally administered MAC address.
func finishNIC(_ context.Context, _ *Server, rec *record, _ *operation) error {
	if _, ok := rec.Resource.Properties["macAddress"]; !ok {
		h := sha256.Sum256([]byte(strings.ToLower(rec.Resource.ID)))
		rec.Resource.Properties["macAddress"] = fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4])
	}
	return nil
}

func validateStorageContainer(s *Server, c *call, res *resource, old *record) *armError {
	if err := validateAzureLocal(s, c, res, old); err != nil {
		return err
	}
	if p, _ := res.Properties["path"].(string); p == "" {
		return badRequest("InvalidParameter", "properties.path is required: the cluster shared volume path of the container")
	}
	return nil
}

func finishStorageContainer(_ context.Context, _ *Server, rec *record, _ *operation) error {
	st := statusOf(rec)
	st["containerSizeMB"], st["availableSizeMB"] = 1048576, 786432
	return nil
}

// lookup returns the resource id of type k, or a 400 LinkedResourceNotFound.
func (s *Server) lookup(k *kind, what, id string) (*record, *armError) {
	rec, err := s.store.get(id)
	if err != nil {
		return nil, asARM(err)
	}
	if rec == nil || !eq(rec.Resource.Type, k.typ) {
		return nil, linkedNotFound(what, id)
	}
	return rec, nil
}
