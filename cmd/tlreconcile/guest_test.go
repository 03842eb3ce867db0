package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

func TestGuestAttestValidate(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no nonce", []string{"guest", "attest"}, `required flag(s) "nonce" not set`},
		{"nonce not hex", []string{"guest", "attest", "--nonce", "xyz"}, `--nonce "xyz" is not hex`},
		{"nonce too long", []string{"guest", "attest", "--nonce", strings.Repeat("ab", 65)}, "--nonce is 65 bytes: give 1 to 64 bytes"},
		{"bad format", []string{"guest", "attest", "--nonce", "ab", "--format", "yaml"}, `--format "yaml" is unknown`},
		{"tpm without log", []string{"guest", "attest", "--nonce", "ab", "--tpm", "/dev/null"}, "--tpm and --event-log go together"},
		{"empty state", []string{"guest", "attest", "--nonce", "ab", "--state", ""}, "--state is empty"},
		{"no challenge", []string{"guest", "activate"}, `required flag(s) "challenge" not set`},
		{"challenge not a file", []string{"guest", "activate", "--challenge", "/nonexistent/challenge.json"}, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCLI(t, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestGuestAttestHelp(t *testing.T) {
	out, err := runCLI(t, "", "guest", "attest", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"runs inside the guest", "changes nothing in the guest but its AK file", "needs no network", "--nonce", "--state", "--format"} {
		if !strings.Contains(out, want) {
			t.Errorf("guest attest --help does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--tpm ") || strings.Contains(out, "--event-log") {
		t.Errorf("the testing flags show in --help:\n%s", out)
	}
}

// swtpmGuest is a booted guest's TPM outside a VM: swtpm with the embedded
// real Secure Boot log measured into its PCRs, the log in a file.
func swtpmGuest(t *testing.T) (sock, logFile string) {
	t.Helper()
	if err := vtpm.SwtpmAvailable(); err != nil {
		t.Skipf("swtpm: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	p, err := vtpm.StartSwtpm(ctx, t.TempDir(), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	boot, err := guestboot.New(guestboot.LogLinuxSecureBoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Do(func(tr transport.TPM) error {
		for _, m := range boot.Measurements {
			if d, ok := m.Digests[crypto.SHA256]; ok {
				if _, err := (tpm2.PCRExtend{
					PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(m.PCR), Auth: tpm2.PasswordAuth(nil)},
					Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d}}},
				}).Execute(tr); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logFile = filepath.Join(t.TempDir(), "binary_bios_measurements")
	if err := os.WriteFile(logFile, boot.Log, 0o600); err != nil {
		t.Fatal(err)
	}
	return p.SocketPath(), logFile
}

// TestGuestAttestAndActivate runs the commands as the reconciler would, on
// swtpm: the JSON verifies with the nonce, activation answers the
// verifier's challenge, and the second run reuses the AK.
func TestGuestAttestAndActivate(t *testing.T) {
	sock, logFile := swtpmGuest(t)
	state := filepath.Join(t.TempDir(), "guest-state")
	tpmArgs := []string{"--state", state, "--tpm", sock, "--event-log", logFile}
	nonce := "3f1c9a0b5e7d24681f2e3d4c5b6a7980"
	out, err := runCLI(t, "", append([]string{"guest", "attest", "--nonce", nonce, "--format", "json"}, tpmArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := attest.ParseBytes([]byte(out))
	if err != nil {
		t.Fatalf("the JSON does not parse: %v\n%s", err, out)
	}
	nb, _ := hex.DecodeString(nonce)
	res, err := attest.Verify(*ev, attest.VerifyOptions{Nonce: nb})
	if err != nil || !res.SecureBoot.Enabled {
		t.Fatalf("Verify: %v (secure boot %v)", err, res.SecureBoot.Enabled)
	}

	secret, cred, err := attest.Challenge(*ev)
	if err != nil {
		t.Fatal(err)
	}
	challenge, _ := json.Marshal(cred)
	out, err = runCLI(t, string(challenge), append([]string{"guest", "activate", "--challenge", "-"}, tpmArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	var answer activationAnswer
	if err := json.Unmarshal([]byte(out), &answer); err != nil || answer.FormatVersion != 1 {
		t.Fatalf("activate printed %q (%v)", out, err)
	}
	if err := attest.CheckActivation(secret, answer.Secret); err != nil {
		t.Fatal(err)
	}

	out, err = runCLI(t, "", append([]string{"guest", "attest", "--nonce", "00ff"}, tpmArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := attest.EKFingerprint(ev.EKPublic)
	for _, want := range []string{"EK:         " + fp, "AK:         " + attest.AKFingerprint(ev.AK.Public) + " (reused from " + filepath.Join(state, "ak.blob"), "nonce 00ff"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output does not say %q:\n%s", want, out)
		}
	}
}

func TestGuestActivateRefusesJunk(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.json")
	for _, tc := range []struct{ name, body, want string }{
		{"not json", "hello", "not a challenge"},
		{"unknown field", `{"credential":"AAE=","secret":"AAE=","extra":1}`, "not a challenge"},
		{"half", `{"credential":"AAE="}`, "needs both credential and secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(f, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := runCLI(t, "", "guest", "activate", "--challenge", f, "--tpm", "/nonexistent", "--event-log", "/nonexistent")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

// TestGuestBuildsWithoutCgo builds tlreconcile as a guest gets it
// (CGO_ENABLED=0, windows/amd64 and linux/amd64). The Linux binary then
// attests on swtpm, and says plainly that its embedded simulator is absent.
func TestGuestBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles tlreconcile twice (-short skips it)")
	}
	dir := t.TempDir()
	bins := map[string]string{}
	for _, target := range []struct{ goos, goarch string }{{"windows", "amd64"}, {"linux", "amd64"}} {
		out := filepath.Join(dir, "tlreconcile-"+target.goos)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+target.goos, "GOARCH="+target.goarch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("CGO_ENABLED=0 GOOS=%s GOARCH=%s go build: %v\n%s", target.goos, target.goarch, err, b)
		}
		bins[target.goos] = out
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return
	}
	sock, logFile := swtpmGuest(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bins["linux"], "guest", "attest", "--nonce", "0a0b", "--format", "json", "--state", t.TempDir(), "--tpm", sock, "--event-log", logFile)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the cgo-less binary's guest attest: %v: %s", err, stderr.String())
	}
	ev, err := attest.ParseBytes(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(*ev, attest.VerifyOptions{Nonce: []byte{0x0a, 0x0b}}); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// The embedded sim needs the reference TPM, which is cgo.
	apply := exec.Command(bins["linux"], "apply", "-f", "examples/basic", "--auto-approve", "--no-color", "--state-dir", t.TempDir())
	apply.Dir = "../.."
	b, err := apply.CombinedOutput()
	if err == nil || !strings.Contains(string(b), vtpm.ErrNoCgoMessage) {
		t.Fatalf("apply on the sim without cgo: %v, want the message %q:\n%s", err, vtpm.ErrNoCgoMessage, b)
	}
}
