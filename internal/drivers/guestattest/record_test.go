package guestattest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestRecordRoundTrip(t *testing.T) {
	yes, no := true, false
	full := Record{Attested: drivers.Attested{Time: time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC), Result: drivers.AttestVerified,
		Node: strings.Repeat("n", 64), SecureBoot: &yes, CodeIntegrity: &yes, VBSRunning: &no, TestSigning: &no, Debugging: &no,
		Boot: "0123456789ab", Baseline: "0123456789ab", Problem: strings.Repeat("p", 40)}, AK: strings.Repeat("ab", 16)}
	failed := Record{Attested: drivers.Attested{Time: full.Time, Result: drivers.AttestFailed, Problem: "log-replay"}}
	for _, r := range []Record{full, failed} {
		v := Format(r)
		if len(v) > MaxRecord {
			t.Fatalf("%d characters: %s", len(v), v)
		}
		got, err := Parse("tag x", v, "")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", v, got, r)
		}
	}
}

func TestParseRefusesHandEdits(t *testing.T) {
	for _, v := range []string{"", "v=2 t=2026-12-02T19:00:00Z r=verified", "v=1 r=verified", "v=1 t=yesterday r=verified",
		"v=1 t=2026-12-02T19:00:00Z r=great", "v=1 t=2026-12-02T19:00:00Z r=verified sb=yes", "v=1 t=2026-12-02T19:00:00Z r=verified colour=red",
		"v=1 t=2026-12-02T19:00:00Z r=verified ak=XYZ", "v=1 t=2026-12-02T19:00:00Z r=verified n=a/b", "v=1 t=2026-12-02T19:00:00Z r=verified nokey", "v=1 t=2026-12-02T19:00:00Z r=verified boot=abc"} {
		if _, err := Parse("tag x", v, ""); err == nil {
			t.Errorf("%q: accepted", v)
		} else if !strings.Contains(err.Error(), "tag x") {
			t.Errorf("%q: the error does not say where: %v", v, err)
		}
		if a, _ := Of(v, ""); a != nil {
			t.Errorf("%q: Of takes a damaged record as an attestation", v)
		}
	}
}

func TestConclude(t *testing.T) {
	now := time.Date(2026, 12, 2, 19, 0, 0, 500, time.UTC)
	first := Record{Attested: drivers.Attested{Result: drivers.AttestVerified, Boot: "aaa"}}
	first.Conclude(nil, Pin{}, "node1", now)
	if first.Baseline != "aaa" || first.Node != "node1" || !first.Time.Equal(now.Truncate(time.Second)) {
		t.Errorf("first verified: %+v", first)
	}
	later := Record{Attested: drivers.Attested{Result: drivers.AttestVerified, Boot: "bbb"}}
	later.Conclude(&first.Attested, Pin{AK: "a1", EK: "e1"}, "node2", now)
	if later.Baseline != "aaa" {
		t.Errorf("a later boot replaced the baseline: %+v", later)
	}
	if later.AK != "" || later.EK != "" {
		t.Errorf("a verified record took the pin's AK or EK instead of its own: %+v", later)
	}
	failed := Record{Attested: drivers.Attested{Result: drivers.AttestFailed}}
	failed.Conclude(nil, Pin{}, "node1", now)
	if failed.Baseline != "" {
		t.Errorf("a failed attestation set a baseline: %+v", failed)
	}
	// Nothing verified: the pin stays for the next answer.
	unavailable := Record{Attested: drivers.Attested{Result: drivers.AttestUnavailable, Problem: "output-unreadable"}}
	unavailable.Conclude(&first.Attested, Pin{AK: "a1", EK: "e1"}, "node1", now)
	if unavailable.AK != "a1" || unavailable.EK != "e1" || unavailable.Baseline != "aaa" {
		t.Errorf("an unverified record released the pin or the baseline: %+v", unavailable)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("v=1 t=2026-12-02T19:00:00Z r=verified n=node1 sb=1 boot=0123456789ab ak=0123456789abcdef0123456789abcdef", "a;b")
	f.Add("v=1 t=2026-12-02T19:00:00Z r=failed p=log-replay", "")
	f.Fuzz(func(t *testing.T, record, boot string) {
		r, err := Parse("tag x", record, boot)
		if err != nil {
			return
		}
		again := Format(r)
		if len(again) > MaxRecord {
			t.Fatalf("%q parsed into a record whose form is %d characters", record, len(again))
		}
		if _, err := Parse("tag x", again, ""); err != nil {
			t.Fatalf("%q parsed, but its re-format does not: %v", record, err)
		}
	})
}
