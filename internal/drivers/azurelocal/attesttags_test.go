package azurelocal

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestAttestationTagRoundTrip(t *testing.T) {
	yes, no := true, false
	full := attestRecord{Attested: drivers.Attested{Time: time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC), Result: drivers.AttestVerified,
		Node: "node1", SecureBoot: &yes, CodeIntegrity: &yes, VBSRunning: &no, TestSigning: &no, Debugging: &no,
		Boot: "0123456789ab", Baseline: "0123456789ab", Problem: ""}, AK: strings.Repeat("ab", 16)}
	failed := attestRecord{Attested: drivers.Attested{Time: full.Time, Result: drivers.AttestFailed, Problem: "log-replay"}}
	for _, r := range []attestRecord{full, failed} {
		v := formatAttestation(r)
		if len(v) > maxTagValue {
			t.Fatalf("%d characters: %s", len(v), v)
		}
		got, err := parseAttestation(v, "")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", v, got, r)
		}
	}
}

func TestAttestationTagRefusesHandEdits(t *testing.T) {
	for _, v := range []string{"", "v=2 t=2026-12-02T19:00:00Z r=verified", "v=1 r=verified", "v=1 t=yesterday r=verified",
		"v=1 t=2026-12-02T19:00:00Z r=great", "v=1 t=2026-12-02T19:00:00Z r=verified sb=yes", "v=1 t=2026-12-02T19:00:00Z r=verified colour=red",
		"v=1 t=2026-12-02T19:00:00Z r=verified ak=XYZ", "v=1 t=2026-12-02T19:00:00Z r=verified n=a/b", "v=1 t=2026-12-02T19:00:00Z r=verified nokey"} {
		if _, err := parseAttestation(v, ""); err == nil {
			t.Errorf("%q: accepted", v)
		}
	}
	if a, _ := attestationOf(map[string]string{tagAttestation: "v=1 r=verified"}); a != nil {
		t.Error("a damaged record is taken as an attestation")
	}
}

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

func FuzzParseAttestation(f *testing.F) {
	f.Add("v=1 t=2026-12-02T19:00:00Z r=verified n=node1 sb=1 boot=abc", "a;b")
	f.Add("v=1 t=2026-12-02T19:00:00Z r=failed p=log-replay", "")
	f.Fuzz(func(t *testing.T, record, boot string) {
		r, err := parseAttestation(record, boot)
		if err != nil {
			return
		}
		if _, err := parseAttestation(formatAttestation(r), ""); err != nil {
			t.Fatalf("%q parsed, but its re-format does not: %v", record, err)
		}
	})
}
