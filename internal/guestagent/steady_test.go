package guestagent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
)

// imaTPM is a TPM on a running Linux with IMA: something extends PCR 10 just
// before the first `extends` quotes go to the TPM.
type imaTPM struct {
	tr      transport.TPM
	extends int
}

func (m *imaTPM) Send(cmd []byte) ([]byte, error) {
	if len(cmd) >= 10 && binary.BigEndian.Uint32(cmd[6:10]) == uint32(tpm2.TPMCCQuote) && m.extends > 0 {
		m.extends--
		d := sha256.Sum256([]byte("/usr/bin/something-opened"))
		if _, err := (tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: 10, Auth: tpm2.PasswordAuth(nil)},
			Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
		}).Execute(m.tr); err != nil {
			return nil, err
		}
	}
	return m.tr.Send(cmd)
}

// TestQuoteWhilePCRsMove: a PCR that moves during a quote makes the agent
// quote again, so the PCR values it sends are the quoted ones; a PCR that
// never stops moving is an error, not evidence that cannot verify.
func TestQuoteWhilePCRsMove(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extends int
		wantErr string
	}{
		{"moves once", 1, ""},
		{"moves three times", 3, ""},
		{"never settles", 100, "changed during each of 5 quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends()[0].run(t, 41, func(tr transport.TPM) {
				log := measure(t, tr, guestboot.LogLinuxNoSecureBoot)
				nonce := []byte("n")
				ev, _, err := guestagent.Attest(context.Background(), guestagent.FromTransport(&imaTPM{tr: tr, extends: tc.extends}, log), nonce, guestagent.Options{Keys: &guestagent.MemoryStore{}})
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Attest: %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				res, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce})
				if !res.QuoteOK {
					t.Fatalf("the quote does not cover the PCR values sent: %v", err)
				}
				if bytes.Equal(ev.PCRs[10].Digest, make([]byte, 32)) {
					t.Error("PCR 10 did not move: the test measured nothing")
				}
			})
		})
	}
}
