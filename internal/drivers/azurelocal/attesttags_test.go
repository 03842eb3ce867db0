package azurelocal

import (
	"strings"
	"testing"
)

func TestBootTagKeepsWholeComponents(t *testing.T) {
	long := strings.Repeat("x", 230)
	got := bootTag([]string{`\EFI\Boot\bootx64.efi`, long, "third;with;semicolons"})
	if got != `\EFI\Boot\bootx64.efi;`+long {
		t.Errorf("got %q", got)
	}
	if got := bootTag([]string{"a;b"}); got != "a_b" {
		t.Errorf("got %q", got)
	}
}

func TestAttestationOfRefusesADamagedTag(t *testing.T) {
	if a, _ := attestationOf(map[string]string{tagAttestation: "v=1 r=verified"}); a != nil {
		t.Error("a damaged record is taken as an attestation")
	}
	a, ak := attestationOf(map[string]string{tagAttestation: "v=1 t=2026-12-02T19:00:00Z r=verified ak=0123456789abcdef0123456789abcdef", tagAttestationBoot: `\EFI\a.efi;\EFI\b.efi`})
	if a == nil || ak != "0123456789abcdef0123456789abcdef" || len(a.Components) != 2 {
		t.Errorf("got %+v, %q", a, ak)
	}
}
