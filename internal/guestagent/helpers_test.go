package guestagent_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// backend runs fn on one freshly manufactured TPM of a kind; seed picks the
// TPM where the kind can (the reference TPM), so two calls with one seed see
// the same EK.
type backend struct {
	name string
	run  func(t *testing.T, seed int64, fn func(tr transport.TPM))
}

// backends are the real TPMs this machine has: the Microsoft reference TPM
// (go-tpm-tools' simulator, in process) and swtpm (a process on a socket),
// the one skipping when swtpm is not installed.
func backends() []backend {
	return []backend{
		{name: "reference", run: func(t *testing.T, seed int64, fn func(tr transport.TPM)) {
			t.Helper()
			ref := vtpm.NewReference()
			defer ref.Close() //nolint:errcheck // test teardown
			if err := ref.Boot(seed, func(tr transport.TPM) error { fn(tr); return nil }); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "swtpm", run: func(t *testing.T, _ int64, fn func(tr transport.TPM)) {
			t.Helper()
			if err := vtpm.SwtpmAvailable(); err != nil {
				t.Skipf("swtpm: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			key := make([]byte, 16)
			if _, err := rand.Read(key); err != nil {
				t.Fatal(err)
			}
			p, err := vtpm.StartSwtpm(ctx, t.TempDir(), key)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close() //nolint:errcheck // test teardown
			if err := p.Do(func(tr transport.TPM) error { fn(tr); return nil }); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// measure plays firmware: it extends the SHA-256 digests of the embedded
// real boot log into the PCRs and returns the log.
func measure(t *testing.T, tr transport.TPM, log string) []byte {
	t.Helper()
	boot, err := guestboot.New(log, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range boot.Measurements {
		d, ok := m.Digests[crypto.SHA256]
		if !ok {
			continue
		}
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(m.PCR), Auth: tpm2.PasswordAuth(nil)},
			Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{
				{HashAlg: tpm2.TPMAlgSHA256, Digest: d},
			}},
		}.Execute(tr)
		if err != nil {
			t.Fatalf("extend PCR %d: %v", m.PCR, err)
		}
	}
	return boot.Log
}
