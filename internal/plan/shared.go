package plan

import (
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// shared hands out the parameters that the steps of many VMs have in common,
// so that a plan of 10,000 creates does not carry 10,000 copies of the same
// image, Secure Boot and security parameters the desired documents already
// hold once per distinct value. What it returns is shared between steps and
// VMs: a plan's Params are read-only once built (apply copies a step's
// Params before it changes one: apply/run.go, apply/forcestop.go).
type shared struct {
	secureBoot map[secureBootKey]*drivers.Params
	security   map[[2]bool]*drivers.Params
	images     map[spec.Image]*drivers.Image
	empty      *drivers.Params
}

type secureBootKey struct {
	enabled  bool
	template string
}

// secureBootParams is secureBootParams(d), one per distinct value.
func (s *shared) secureBootParams(d *spec.VM) *drivers.Params {
	k := secureBootKey{d.SecureBoot.Enabled, d.SecureBoot.Template}
	if p, ok := s.secureBoot[k]; ok {
		return p
	}
	if s.secureBoot == nil {
		s.secureBoot = map[secureBootKey]*drivers.Params{}
	}
	p := secureBootParams(d)
	s.secureBoot[k] = p
	return p
}

// securityParams sets encryptStateAndMigrationTraffic and the VBS opt-out.
func (s *shared) securityParams(encrypt, vbsOptOut bool) *drivers.Params {
	k := [2]bool{encrypt, vbsOptOut}
	if p, ok := s.security[k]; ok {
		return p
	}
	if s.security == nil {
		s.security = map[[2]bool]*drivers.Params{}
	}
	p := &drivers.Params{EncryptState: drivers.Bool(encrypt), VBSOptOut: drivers.Bool(vbsOptOut)}
	s.security[k] = p
	return p
}

// image is the driver's form of a desired image.
func (s *shared) image(img spec.Image) *drivers.Image {
	if p, ok := s.images[img]; ok {
		return p
	}
	if s.images == nil {
		s.images = map[spec.Image]*drivers.Image{}
	}
	p := &drivers.Image{Publisher: img.Publisher, Offer: img.Offer, Sku: img.Sku, Version: img.Version}
	s.images[img] = p
	return p
}

// none is the Params of an op that takes none but must carry an object
// (ensure-key-protector without a reset).
func (s *shared) none() *drivers.Params {
	if s.empty == nil {
		s.empty = &drivers.Params{}
	}
	return s.empty
}
