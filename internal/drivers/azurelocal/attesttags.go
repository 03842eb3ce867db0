package azurelocal

import (
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
)

// The last attestation of a VM is two ARM tags on its Arc machine, beside
// the annotations (set-annotations keeps them): the record's text form
// (guestattest.Format), and the boot components for messages.
//
//	tlreconcile-attestation       v=1 t=2026-12-02T19:00:00Z r=verified n=node1 ak=<32 hex> sb=1 ...
//	tlreconcile-attestation-boot  \EFI\Microsoft\Boot\bootmgfw.efi;...
const (
	tagAttestation     = "tlreconcile-attestation"
	tagAttestationBoot = "tlreconcile-attestation-boot"
)

// The record always fits a tag value.
var _ [maxTagValue - guestattest.MaxRecord]struct{}

// bootTag is the components joined with ";", whole components only, within
// ARM's limit.
func bootTag(components []string) string { return guestattest.JoinComponents(components, maxTagValue) }

// attestationOf is the VM's last attestation from its machine's tags; nil
// when none, or when the tag was edited into something tlreconcile never
// writes (then the VM is attested again, as if never).
func attestationOf(tags map[string]string) (*drivers.Attested, string) {
	return guestattest.Of(tags[tagAttestation], tags[tagAttestationBoot])
}
