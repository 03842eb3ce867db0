package e2eboot_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/e2eboot"
)

func frame(lines ...string) string {
	return "BdsDxe: booting\r\n" + e2eboot.BeginMarker + "\n" + strings.Join(lines, "\n") + "\n" + e2eboot.EndMarker + "\n[ 6.3] reboot: Power down\n"
}

func TestExtractEvidence(t *testing.T) {
	doc := `{"format_version":1,"tpm_version":2}`
	enc := base64.StdEncoding.EncodeToString([]byte(doc))
	cases := []struct {
		name    string
		serial  string
		want    string
		wantErr string
	}{
		{"one line", frame(enc), doc, ""},
		{"split with CRLF", frame(enc[:20]+"\r", enc[20:]+"\r"), doc, ""},
		{"kernel message between lines", frame(enc[:20], "[    5.1] random: crng init done", enc[20:]), doc, ""},
		{"guest failed", "...\n" + e2eboot.FailMarker + " no tlr.nonce= on the kernel command line\n", "", "the guest agent failed: no tlr.nonce="},
		{"never reached init", "BdsDxe: failed to load Boot0001\n", "", "no evidence"},
		{"cut off", e2eboot.BeginMarker + "\n" + enc, "", "no end marker"},
		{"not base64", frame(enc[:21]), "", "not base64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e2eboot.ExtractEvidence([]byte(tc.serial))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzExtractEvidence: a serial console is outside input; no panic, and
// what comes out is what some base64 between the markers said.
func FuzzExtractEvidence(f *testing.F) {
	f.Add([]byte(frame(base64.StdEncoding.EncodeToString([]byte("{}")))))
	f.Add([]byte(e2eboot.BeginMarker + "\n" + e2eboot.EndMarker))
	f.Add([]byte(e2eboot.FailMarker))
	f.Fuzz(func(t *testing.T, serial []byte) {
		out, err := e2eboot.ExtractEvidence(serial)
		if err == nil && len(out) > 0 && !strings.Contains(string(serial), e2eboot.BeginMarker) {
			t.Fatalf("evidence %q from a console without the begin marker", out)
		}
	})
}
