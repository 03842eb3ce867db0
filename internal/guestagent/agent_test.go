package guestagent_test

import (
	"crypto"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	legacy "github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
)

type simChannel struct {
	io.ReadWriteCloser
	log []byte
}

func (c simChannel) MeasurementLog() ([]byte, error) { return c.log, nil }

func readLog(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../shared/testdata/eventlogs/go-attestation/ubuntu_2104_shielded_vm_no_secure_boot_eventlog")
	if err != nil {
		t.Skipf("shared test data absent: %v", err)
	}
	return b
}

// session opens the reference TPM of seed (a fresh instance: nothing of an
// earlier one is left but what the seed fixes, as across two guest commands).
func session(t *testing.T, seed int64, log []byte) (*guestagent.Session, func()) {
	t.Helper()
	rw, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		t.Skipf("reference TPM unavailable: %v", err)
	}
	// The firmware's boot: every event of the log extended into its PCR.
	boot, err := guestboot.Parse(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range boot.Measurements {
		for h, alg := range map[crypto.Hash]legacy.Algorithm{crypto.SHA256: legacy.AlgSHA256, crypto.SHA1: legacy.AlgSHA1} {
			if d := m.Digests[h]; len(d) > 0 {
				if err := legacy.PCRExtend(rw, tpmutil.Handle(m.PCR), alg, d, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	s, err := guestagent.NewSession(simChannel{rw, log})
	if err != nil {
		rw.Close()
		t.Fatal(err)
	}
	return s, func() { s.Close(); rw.Close() }
}

// TestAttestThenActivateAcrossSessions is the verifier's first contact as
// the guest sees it: attest in one command, answer the challenge in the
// next, with the AK from the store; the verifier's checks pass.
func TestAttestThenActivateAcrossSessions(t *testing.T) {
	log := readLog(t)
	nonce := []byte("nonce-0123456789")
	s, done := session(t, 42, log)
	ev, err := s.Attest(nonce)
	done()
	if err != nil {
		t.Fatal(err)
	}
	secret, cred, err := attest.Challenge(ev)
	if err != nil {
		t.Fatal(err)
	}
	s, done = session(t, 42, log)
	answer, err := s.Activate(cred)
	done()
	if err != nil {
		t.Fatal(err)
	}
	if err := attest.CheckActivation(secret, answer); err != nil {
		t.Fatal(err)
	}
	res, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce, AKActivated: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !res.QuoteOK || !res.NonceOK || res.SecureBoot.Enabled {
		t.Errorf("result %+v: want the quote and nonce checked, Secure Boot off (this Ubuntu log)", res)
	}
	// Another seed is another vTPM: its activation answer is not the secret.
	other, done := session(t, 43, log)
	answer, err = other.Activate(cred)
	done()
	if err == nil && attest.CheckActivation(secret, answer) == nil {
		t.Fatal("another TPM answered the challenge")
	}
}

// TestWindowsLogVerifies: the Windows Shielded VM log is in the SHA-1
// format; the agent quotes both banks, so it replays.
func TestWindowsLogVerifies(t *testing.T) {
	b, err := guestboot.New("windows_gcp_shielded_vm", nil)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("nonce-0123456789")
	s, done := session(t, 42, b.Log)
	defer done()
	ev, err := s.Attest(nonce)
	if err != nil {
		t.Fatal(err)
	}
	res, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce, AKActivated: true})
	if err != nil || !res.SecureBoot.Enabled || !res.LogReplayOK {
		t.Fatalf("Verify: %v, Secure Boot %v, replay %v", err, res.SecureBoot.Enabled, res.LogReplayOK)
	}
}

func TestCommand(t *testing.T) {
	s, done := session(t, 42, readLog(t))
	defer done()
	tests := []struct {
		args []string
		code int
		want string // in stdout (code 0) or stderr
	}{
		{nil, 2, "say attest or activate"},
		{[]string{"reboot"}, 2, `unknown command "reboot"`},
		{[]string{"attest"}, 2, "--nonce HEX"},
		{[]string{"attest", "--nonce", "zz"}, 2, "--nonce HEX"},
		{[]string{"attest", "--nonce", "0011", "--format", "text"}, 2, "the attestation is JSON"},
		{[]string{"attest", "--nonce"}, 2, "--nonce needs a value"},
		{[]string{"attest", "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"attest", "--nonce", "0011"}, 1, "a nonce of 2 bytes"},
		{[]string{"attest", "--nonce=00112233445566778899", "--format", "json"}, 0, `"format_version":1`},
		{[]string{"activate", "--credential", "!!"}, 2, "--credential BASE64"},
	}
	for _, tt := range tests {
		out, code, msg := guestagent.Command(s, tt.args)
		text := msg
		if code == 0 {
			text = out
		}
		if code != tt.code || !strings.Contains(text, tt.want) {
			t.Errorf("%q: exit %d %q %q, want %d and %q", tt.args, code, out, msg, tt.code, tt.want)
		}
	}
}

// TestBuildsWithoutCgo cross-compiles the whole binary (the agent is a
// subcommand of it) for the guests, without cgo.
func TestBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no cross-compiles")
	}
	for _, goos := range []string{"windows", "linux"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "tlreconcile-"+goos), "../../cmd/tlreconcile")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s CGO_ENABLED=0 go build: %v\n%s", goos, err, out)
		}
	}
}
