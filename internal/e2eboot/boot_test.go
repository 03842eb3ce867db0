package e2eboot_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/e2eboot"
)

// repoRoot is this package's way back to the repository root.
const repoRoot = "../.."

// cacheDir is where scripts/e2e-boot-deps.sh unpacks the boot chain
// (TLR_E2E_CACHE, default .cache/e2e at the repository root).
func cacheDir(t *testing.T) string {
	if d := os.Getenv("TLR_E2E_CACHE"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join(repoRoot, ".cache", "e2e"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// built is the initramfs, built once for every boot of the run.
var built struct {
	once   sync.Once
	initrd string
	err    error
}

// initramfs builds guestinit and tlreconcile statically (CGO_ENABLED=0,
// linux/amd64), the way a guest gets the agent, and packs them.
func initramfs(t *testing.T, dir string) string {
	t.Helper()
	built.once.Do(func() {
		bins := map[string]string{"init": "./internal/e2eboot/guestinit", "tlreconcile": "./cmd/tlreconcile"}
		data := map[string][]byte{}
		for name, pkg := range bins {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
			if b, err := cmd.CombinedOutput(); err != nil {
				built.err = errors.New("go build " + pkg + ": " + err.Error() + ": " + string(b))
				return
			}
			if data[name], built.err = os.ReadFile(out); built.err != nil {
				return
			}
		}
		built.initrd = filepath.Join(dir, "initrd.img")
		built.err = e2eboot.BuildInitramfs(built.initrd, data["init"], data["tlreconcile"])
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.initrd
}

// TestBoot boots the signed shim, GRUB and kernel under OVMF with swtpm, the
// guest agent as init, and verifies its attestation on the host: Secure Boot
// on with the Microsoft-keyed vars, off with the plain vars; the quote,
// nonce and log replay hold, and a PCR changed after the fact fails.
func TestBoot(t *testing.T) {
	if os.Getenv("TLR_E2E_BOOT") != "1" {
		t.Skip("the real boot runs with TLR_E2E_BOOT=1 (make test-e2e)")
	}
	chain, err := e2eboot.FindChain(cacheDir(t))
	if err != nil {
		t.Fatal(err)
	}
	initrd := initramfs(t, t.TempDir())
	for _, tc := range []struct {
		name       string
		secureBoot bool
	}{
		{"secure-boot-on", true},
		{"secure-boot-off", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nonce := make([]byte, 32)
			if _, err := rand.Read(nonce); err != nil {
				t.Fatal(err)
			}
			ev, serial := boot(t, chain, initrd, tc.secureBoot, nonce)
			res, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce})
			if err != nil {
				t.Fatalf("Verify: %v\nconsole:\n%s", err, tail(serial))
			}
			if res.SecureBoot.Enabled != tc.secureBoot {
				t.Errorf("Secure Boot enabled = %v, want %v (db %v, authorities %v)", res.SecureBoot.Enabled, tc.secureBoot, res.SecureBoot.DB, res.SecureBoot.Authorities)
			}
			if res.Linux == nil || !strings.Contains(res.Linux.KernelCmdline, "tlr.nonce="+hex.EncodeToString(nonce)) {
				t.Errorf("the log's kernel command line %+v does not carry this boot's nonce", res.Linux)
			}
			t.Logf("verified: secure boot %v, authorities %v, boot apps %v, %d events", res.SecureBoot.Enabled, res.SecureBoot.Authorities, res.BootApps, res.Events)

			tampered := ev
			tampered.PCRs = append([]attest.PCR(nil), ev.PCRs...)
			d := append([]byte(nil), tampered.PCRs[7].Digest...)
			d[0] ^= 0xff
			tampered.PCRs[7].Digest = d
			if _, err := attest.Verify(tampered, attest.VerifyOptions{Nonce: nonce}); !errors.Is(err, attest.ErrFailed) {
				t.Errorf("PCR 7 changed: Verify = %v, want a failure", err)
			}
		})
	}
}

// boot builds this boot's ESP (its GRUB menu carries the nonce) and boots it.
func boot(t *testing.T, chain e2eboot.Chain, initrd string, secureBoot bool, nonce []byte) (attest.Evidence, []byte) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	esp := filepath.Join(dir, "esp.img")
	if err := e2eboot.BuildESP(ctx, esp, chain, initrd, e2eboot.GrubConfig(hex.EncodeToString(nonce))); err != nil {
		t.Fatal(err)
	}
	res, err := e2eboot.Boot(ctx, e2eboot.BootOptions{Chain: chain, ESP: esp, SecureBoot: secureBoot, Dir: dir, Accel: os.Getenv("TLR_E2E_ACCEL")})
	t.Logf("boot (%s): %s", res.Accel, res.Duration.Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, tail(res.Serial))
	}
	ev, err := attest.ParseBytes(res.Evidence)
	if err != nil {
		t.Fatalf("the guest's evidence does not parse: %v", err)
	}
	return *ev, res.Serial
}

// tail is the end of the console, where a failure shows.
func tail(b []byte) string {
	const n = 4000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
