package vtpm_test

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// TestBootResetsPCRsKeepsEK: Boot clears what Do left in the PCRs (a reused
// instance would otherwise keep them) and keeps the seed's EK.
func TestBootResetsPCRsKeepsEK(t *testing.T) {
	r := vtpm.NewReference()
	t.Cleanup(func() { _ = r.Close() })
	const seed = 42
	var ek string
	var extended [vtpm.PCRCount]string
	err := r.Do(seed, func(tr transport.TPM) error {
		var err error
		if ek, err = vtpm.EKFingerprint(tr, vtpm.ECC); err != nil {
			return err
		}
		d := sha256.Sum256([]byte("component"))
		if _, err := (tpm2.PCRExtend{PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(4), Auth: tpm2.PasswordAuth(nil)},
			Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}}}).Execute(tr); err != nil {
			return err
		}
		extended, err = vtpm.ReadPCRs(tr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	zero := strings.Repeat("00", sha256.Size)
	if extended[4] == zero {
		t.Fatalf("PCR 4 did not change after an extend: %v", extended)
	}
	for name, run := range map[string]func(int64, func(transport.TPM) error) error{"reused instance": r.Boot, "fresh instance": func(s int64, fn func(transport.TPM) error) error {
		if err := r.Do(s+1, func(transport.TPM) error { return nil }); err != nil {
			return err
		}
		return r.Boot(s, fn)
	}} {
		t.Run(name, func(t *testing.T) {
			err := run(seed, func(tr transport.TPM) error {
				pcrs, err := vtpm.ReadPCRs(tr)
				if err != nil {
					return err
				}
				for i, p := range pcrs {
					if p != zero {
						t.Errorf("after Boot PCR %d = %s, want the reset value", i, p)
					}
				}
				got, err := vtpm.EKFingerprint(tr, vtpm.ECC)
				if err != nil {
					return err
				}
				if got != ek {
					t.Errorf("after Boot the EK is %s, want the seed's %s", got, ek)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
