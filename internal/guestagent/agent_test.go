package guestagent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// TestAttestVerifies runs the agent on each real TPM and hands its JSON to
// the verifier: the quote, nonce, log replay and Secure Boot state check out,
// the EK is the vTPM identity, credential activation binds the AK, and a
// second run reuses the AK.
func TestAttestVerifies(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			b.run(t, 11, func(tr transport.TPM) {
				log := measure(t, tr, guestboot.LogLinuxSecureBoot)
				ch := guestagent.FromTransport(tr, log)
				keys := &guestagent.MemoryStore{}
				nonce := []byte("verifier-nonce-0123456789abcdef!")
				ev, rep, err := guestagent.Attest(context.Background(), ch, nonce, guestagent.Options{Keys: keys})
				if err != nil {
					t.Fatalf("Attest: %v", err)
				}
				if !rep.AKCreated || rep.AKReplaced {
					t.Errorf("first run: report %+v, want a created AK", rep)
				}
				parsed := roundTrip(t, ev)
				res, err := attest.Verify(*parsed, attest.VerifyOptions{Nonce: nonce})
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !res.QuoteOK || !res.NonceOK || !res.LogReplayOK || !res.SecureBoot.Enabled {
					t.Errorf("result quote %v nonce %v replay %v secure boot %v, want all true", res.QuoteOK, res.NonceOK, res.LogReplayOK, res.SecureBoot.Enabled)
				}
				if len(parsed.PCRs) != 16 || len(res.QuotedPCRs) != 16 {
					t.Errorf("%d PCRs, %d quoted (%v), want 16 each", len(parsed.PCRs), len(res.QuotedPCRs), res.QuotedPCRs)
				}
				want, err := vtpm.EKFingerprint(tr, vtpm.ECC)
				if err != nil {
					t.Fatal(err)
				}
				if res.EKFingerprint != want {
					t.Errorf("EK fingerprint %s, vTPM identity %s", res.EKFingerprint, want)
				}
				activate(t, ch, *parsed, keys)

				again, rep, err := guestagent.Attest(context.Background(), ch, []byte("second"), guestagent.Options{Keys: keys})
				if err != nil {
					t.Fatalf("second Attest: %v", err)
				}
				if rep.AKCreated || !bytes.Equal(again.AK.Public, ev.AK.Public) {
					t.Errorf("second run made a new AK (report %+v): the AK whose credential was activated must be reused", rep)
				}
				if _, err := attest.Verify(again, attest.VerifyOptions{Nonce: []byte("second"), RecordedAK: ev.AK.Public}); err != nil {
					t.Errorf("second run with the recorded AK: %v", err)
				}
			})
		})
	}
}

// roundTrip is what crosses the wire: the agent's JSON, parsed as the
// verifier parses it.
func roundTrip(t *testing.T, ev attest.Evidence) *attest.Evidence {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := attest.Parse(bytes.NewReader(b), attest.DefaultLimit)
	if err != nil {
		t.Fatalf("the verifier cannot parse the agent's JSON: %v", err)
	}
	return parsed
}

// activate answers a real challenge and a corrupted one.
func activate(t *testing.T, ch guestagent.Channel, ev attest.Evidence, keys guestagent.KeyStore) {
	t.Helper()
	secret, cred, err := attest.Challenge(ev)
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	answer, err := guestagent.Activate(context.Background(), ch, cred, guestagent.Options{Keys: keys})
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if err := attest.CheckActivation(secret, answer); err != nil {
		t.Fatalf("CheckActivation: %v", err)
	}
	bad := cred
	bad.Secret = bytes.Clone(cred.Secret)
	bad.Secret[len(bad.Secret)/2] ^= 1
	if got, err := guestagent.Activate(context.Background(), ch, bad, guestagent.Options{Keys: keys}); err == nil && attest.CheckActivation(secret, got) == nil {
		t.Error("a corrupted challenge was answered with the secret")
	}
}

// TestAttestTamperedFails: the agent's evidence with one PCR changed, the
// log changed, or another nonce does not verify.
func TestAttestTamperedFails(t *testing.T) {
	var ev attest.Evidence
	nonce := []byte("nonce-for-tamper-test")
	backends()[0].run(t, 12, func(tr transport.TPM) {
		log := measure(t, tr, guestboot.LogLinuxNoSecureBoot)
		var err error
		ev, _, err = guestagent.Attest(context.Background(), guestagent.FromTransport(tr, log), nonce, guestagent.Options{Keys: &guestagent.MemoryStore{}})
		if err != nil {
			t.Fatal(err)
		}
	})
	res, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce})
	if err != nil {
		t.Fatalf("untampered: %v", err)
	}
	if res.SecureBoot.Enabled {
		t.Error("the Secure-Boot-off log verified as Secure Boot on")
	}
	cases := []struct {
		name   string
		tamper func(ev *attest.Evidence, opts *attest.VerifyOptions)
		code   string
	}{
		{"pcr 7 changed", func(ev *attest.Evidence, _ *attest.VerifyOptions) { ev.PCRs[7].Digest[0] ^= 1 }, attest.CodeQuotePCRs},
		{"other nonce", func(_ *attest.Evidence, o *attest.VerifyOptions) { o.Nonce = []byte("another") }, attest.CodeNonceMismatch},
		{"log claims a boot app the TPM never measured", func(ev *attest.Evidence, _ *attest.VerifyOptions) {
			log, err := guestboot.AppendComponent(ev.EventLog, `\EFI\Boot\extra.efi`)
			if err != nil {
				t.Fatal(err)
			}
			ev.EventLog = log
		}, attest.CodeLogReplay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp := *roundTrip(t, ev)
			opts := attest.VerifyOptions{Nonce: nonce}
			tc.tamper(&cp, &opts)
			_, err := attest.Verify(cp, opts)
			if !errors.Is(err, attest.ErrFailed) || !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("Verify: %v, want a failure with %s", err, tc.code)
			}
		})
	}
}
