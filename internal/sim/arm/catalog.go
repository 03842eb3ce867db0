package arm

import (
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/schema"
	"gopkg.in/yaml.v3"
)

// builtinCatalog reads the images trusted launch on Azure Local supports from
// the schema package's built-in catalog, the one list the validator and the
// sim share.
func builtinCatalog() ([]ImageIdentifier, error) {
	var doc struct {
		Spec struct {
			Images []struct {
				Publisher string `yaml:"publisher"`
				Offer     string `yaml:"offer"`
				SKU       string `yaml:"sku"`
				Version   string `yaml:"version"`
			} `yaml:"images"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(schema.Catalog(), &doc); err != nil {
		return nil, fmt.Errorf("arm: built-in image catalog: %w", err)
	}
	out := make([]ImageIdentifier, 0, len(doc.Spec.Images))
	for _, im := range doc.Spec.Images {
		out = append(out, ImageIdentifier{Publisher: im.Publisher, Offer: im.Offer, SKU: im.SKU, Version: im.Version})
	}
	return out, nil
}

// inCatalog reports whether publisher/offer/sku is a catalog image
// (case-insensitive, as marketplace names are).
func (s *Server) inCatalog(id ImageIdentifier) bool {
	for _, c := range s.catalog {
		if strings.EqualFold(c.Publisher, id.Publisher) && strings.EqualFold(c.Offer, id.Offer) && strings.EqualFold(c.SKU, id.SKU) {
			return true
		}
	}
	return false
}
