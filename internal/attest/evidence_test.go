package attest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

func TestParseEvidence(t *testing.T) {
	good := attest.Evidence{
		FormatVersion: attest.FormatVersion, TPMVersion: 2,
		EKPublic: []byte{0, 3, 1, 2, 3},
		AK:       attest.AKParameters{Public: []byte{1}},
		Quotes:   []attest.Quote{{Alg: "sha256", Quote: []byte{1}, Signature: []byte{2}}},
		PCRs:     []attest.PCR{{Index: 0, Alg: "sha256", Digest: make([]byte, 32)}},
		EventLog: []byte{1},
	}
	mut := func(f func(*attest.Evidence)) string {
		var e attest.Evidence
		b, _ := json.Marshal(good)
		_ = json.Unmarshal(b, &e) // a deep copy: cases must not share slices
		f(&e)
		b, _ = json.Marshal(e)
		return string(b)
	}
	cases := []struct {
		name, in, wantErr string
	}{
		{"good", mut(func(*attest.Evidence) {}), ""},
		{"empty", "  ", "is empty"},
		{"not json", "\x03\x00", "not a JSON object"},
		{"syntax", "{\n\"format_version\": 1,\n x}", "line 3 column"},
		{"unknown field", `{"format_version":1,"tpm_version":2,"colour":"red"}`, `unknown field "colour"`},
		{"future version", mut(func(e *attest.Evidence) { e.FormatVersion = 9 }), "format_version 9"},
		{"tpm version 3", mut(func(e *attest.Evidence) { e.TPMVersion = 3 }), "tpm_version 3"},
		{"ek without size", mut(func(e *attest.Evidence) { e.EKPublic = []byte{1, 2, 3} }), "size prefix says 258 bytes but 1 follow"},
		{"pcr index", mut(func(e *attest.Evidence) { e.PCRs[0].Index = 24 }), "index 24"},
		{"pcr alg", mut(func(e *attest.Evidence) { e.PCRs = []attest.PCR{{Alg: "md5", Digest: []byte{1}}} }), `alg "md5"`},
		{"pcr size", mut(func(e *attest.Evidence) { e.PCRs = []attest.PCR{{Alg: "sha1", Digest: []byte{1}}} }), "digest is 1 bytes, want 20"},
		{"quote no signature", mut(func(e *attest.Evidence) { e.Quotes = []attest.Quote{{Quote: []byte{1}}} }), "quotes[0]"},
		{"no version", `{"tpm_version":2}`, "has no format_version"},
		{"two docs", mut(func(*attest.Evidence) {}) + `{}`, "after top-level value"},
		{"platform parameters", `{"Public":"AQ==","Quotes":[{"Quote":"AQ==","Signature":"Ag=="}],"PCRs":[{"Index":1,"Digest":"AAAAAAAAAAAAAAAAAAAAAAAAAAA=","DigestAlg":3}],"EventLog":"AQ=="}`, ""},
		{"platform bad alg", `{"Public":"AQ==","PCRs":[{"Index":1,"Digest":"AA==","DigestAlg":7}],"EventLog":"AQ=="}`, "DigestAlg 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := attest.Parse(strings.NewReader(c.in), attest.DefaultLimit)
			if c.wantErr == "" {
				if err != nil || ev == nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Parse error = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestParseRoundTrip(t *testing.T) {
	in := attest.Evidence{
		FormatVersion: attest.FormatVersion, TPMVersion: 2,
		AK:       attest.AKParameters{Public: []byte{1, 2}, CreateData: []byte{3}},
		Nonce:    []byte("nonce"),
		Quotes:   []attest.Quote{{Alg: "sha256", Quote: []byte{1}, Signature: []byte{2}}},
		PCRs:     []attest.PCR{{Index: 7, Alg: "sha256", Digest: bytes.Repeat([]byte{7}, 32)}},
		EventLog: []byte{9, 9},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := attest.Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(out)
	if !bytes.Equal(b, again) {
		t.Fatalf("round trip changed the document:\n%s\n%s", b, again)
	}
	if _, err := attest.Parse(bytes.NewReader(b), int64(len(b)-1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Parse over the limit = %v, want a size error", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format_version":1,"tpm_version":2,"ak":{"public":"AQ=="},"quotes":[],"pcrs":[],"event_log":""}`))
	f.Add([]byte(`{"Static":{"TPMVersion":2},"Log":{"PCRs":[{"Index":0,"DigestAlg":3,"Digest":"AA=="}]}}`))
	f.Add([]byte(`{"Public":"AQ==","EventLog":"AQ=="}`))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := attest.Parse(bytes.NewReader(data), 1<<20)
		if err == nil && ev == nil {
			t.Fatal("nil evidence without an error")
		}
	})
}
