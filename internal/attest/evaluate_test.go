package attest_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

func TestEvaluate(t *testing.T) {
	yes, no := true, false
	win, err := attest.Verify(windowsEvidence(t), attest.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ubuntuEv, _, err := attest.ParseAny(readShared(t, "ubuntu_2104_shielded_vm_no_secure_boot_eventlog"))
	if err != nil {
		t.Fatal(err)
	}
	linux, err := attest.Verify(*ubuntuEv, attest.VerifyOptions{LogOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tampered := mutate(windowsEvidence(t), func(e *attest.Evidence) { pcr(e, 7).Digest[0] ^= 1 })
	bad, _ := attest.Verify(tampered, attest.VerifyOptions{})
	debug := win
	w := *win.Windows
	w.KernelDebugging, w.TestSigning = true, true
	debug.Windows = &w

	cases := []struct {
		name string
		r    attest.Result
		req  attest.Requirements
		want string // codes, sorted as returned, joined by ","
	}{
		{"windows meets secure boot and CI", win, attest.Requirements{SecureBoot: &yes, CodeIntegrity: &yes, TestSigning: &no, Debugging: &no}, ""},
		{"windows without VBS", win, attest.Requirements{VBS: attest.VBSRunning}, attest.FindingVBSNotRunning},
		{"linux without secure boot", linux, attest.Requirements{SecureBoot: &yes}, attest.FindingSecureBoot},
		{"linux, secure boot not asked", linux, attest.Requirements{}, ""},
		{"linux asked for CI", linux, attest.Requirements{CodeIntegrity: &yes}, attest.FindingBootIntegrity},
		{"debugging and test signing", debug, attest.Requirements{TestSigning: &no, Debugging: &no}, attest.FindingBootIntegrity + "," + attest.FindingBootIntegrity},
		{"tampered", bad, attest.Requirements{}, attest.FindingBootIntegrity + "," + attest.FindingBootIntegrity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var codes []string
			for _, f := range attest.Evaluate(c.r, c.req) {
				codes = append(codes, f.Code)
				if f.Reason == "" {
					t.Errorf("finding %s without a reason", f.Code)
				}
			}
			if got := strings.Join(codes, ","); got != c.want {
				t.Fatalf("findings %q, want %q", got, c.want)
			}
		})
	}
}

// FuzzVerifyLog feeds arbitrary bytes as a raw event log through the whole
// verifier (parser, replay, Secure Boot, SIPA and device-path readers).
func FuzzVerifyLog(f *testing.F) {
	f.Add(readShared(f, "ubuntu_2104_shielded_vm_no_secure_boot_eventlog"))
	f.Add(windowsEvidence(f).EventLog)
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, log []byte) {
		ev := attest.Evidence{FormatVersion: attest.FormatVersion, TPMVersion: 2, EventLog: log}
		r, err := attest.Verify(ev, attest.VerifyOptions{LogOnly: true})
		if (err == nil) != r.OK() {
			t.Fatalf("error %v but OK() %v", err, r.OK())
		}
	})
}
