package attest_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"testing"

	ga "github.com/google/go-attestation/attest"
	"github.com/google/go-tpm-tools/simulator"
	legacy "github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// channel is the reference TPM simulator as go-attestation's command
// channel, with the event log the "firmware" measured.
type channel struct {
	io.ReadWriteCloser
	log []byte
}

func (c channel) MeasurementLog() ([]byte, error) { return c.log, nil }

// agentAttest does what the guest agent does, on a real (simulated) TPM:
// measure a real boot log into the PCRs, make an AK, quote PCRs 0-15 with
// the nonce, read the ECC EK's public area.
func agentAttest(t *testing.T, rw io.ReadWriteCloser, log, nonce []byte) (attest.Evidence, *ga.TPM, *ga.AK) {
	t.Helper()
	boot, err := guestboot.Parse(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range boot.Measurements {
		if err := legacy.PCRExtend(rw, tpmutil.Handle(m.PCR), legacy.AlgSHA256, m.Digests[crypto.SHA256], ""); err != nil {
			t.Fatalf("extend PCR %d: %v", m.PCR, err)
		}
	}
	tpm, err := ga.OpenTPM(&ga.OpenConfig{CommandChannel: channel{rw, log}})
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tpm.NewAK(nil)
	if err != nil {
		t.Fatalf("NewAK: %v", err)
	}
	sel := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	q, err := ak.QuotePCRs(tpm, nonce, ga.HashSHA256, sel)
	if err != nil {
		t.Fatalf("Quote: %v", err)
	}
	pcrs, err := tpm.PCRs(ga.HashSHA256)
	if err != nil {
		t.Fatal(err)
	}
	ap := ak.AttestationParameters()
	ev := attest.Evidence{
		FormatVersion: attest.FormatVersion, TPMVersion: 2,
		EKPublic: eccEK(t, rw),
		AK: attest.AKParameters{Public: ap.Public, CreateData: ap.CreateData,
			CreateAttestation: ap.CreateAttestation, CreateSignature: ap.CreateSignature},
		Nonce:    nonce,
		Quotes:   []attest.Quote{{Alg: attest.AlgSHA256, Quote: q.Quote, Signature: q.Signature}},
		EventLog: log,
	}
	for _, p := range pcrs {
		if p.Index < 16 {
			ev.PCRs = append(ev.PCRs, attest.PCR{Index: p.Index, Alg: attest.AlgSHA256, Digest: p.Digest})
		}
	}
	return ev, tpm, ak
}

// eccEK returns the TPM2B_PUBLIC of the standard ECC P-256 EK.
func eccEK(t *testing.T, rw io.ReadWriter) []byte {
	t.Helper()
	tr := transport.FromReadWriter(rw)
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHEndorsement, InPublic: tpm2.New2B(tpm2.ECCEKTemplate)}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(tr) //nolint:errcheck
	return tpm2.Marshal(rsp.OutPublic)
}

func TestRealTPMRoundTrip(t *testing.T) {
	rw, err := simulator.GetWithFixedSeedInsecure(7)
	if err != nil {
		t.Skipf("reference TPM simulator unavailable: %v", err)
	}
	defer rw.Close()
	log := readShared(t, "ubuntu_2104_shielded_vm_no_secure_boot_eventlog")
	nonce := []byte("verifier-nonce-0001")
	ev, tpm, ak := agentAttest(t, rw, log, nonce)

	// The wire format carries it unchanged.
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := attest.Parse(bytes.NewReader(b), attest.DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}

	// The EK fingerprint is the vTPM identity the sim and drivers record.
	want, err := vtpm.EKFingerprint(transport.FromReadWriter(rw), vtpm.ECC)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := attest.EKFingerprint(parsed.EKPublic); got != want {
		t.Fatalf("EKFingerprint %s, vtpm identity %s", got, want)
	}

	// First contact: activate a credential against the EK.
	secret, cred, err := attest.Challenge(*parsed)
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	tpub, _ := attest.TPMTPublic(parsed.EKPublic)
	pub, _ := legacy.DecodePublic(tpub)
	ekKey, _ := pub.Key()
	if _, ok := ekKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("EK is %T, want the ECC EK", ekKey)
	}
	answer, err := ak.ActivateCredentialWithEK(tpm, cred.ToGo(), ga.EK{Public: ekKey})
	if err != nil {
		t.Fatalf("ActivateCredential: %v", err)
	}
	if err := attest.CheckActivation(secret, answer); err != nil {
		t.Fatalf("CheckActivation: %v", err)
	}
	wrong := bytes.Clone(answer)
	wrong[0] ^= 1
	if err := attest.CheckActivation(secret, wrong); !errors.Is(err, attest.ErrActivation) {
		t.Fatalf("a wrong answer: %v", err)
	}
	bad := cred
	bad.Secret = bytes.Clone(cred.Secret)
	bad.Secret[len(bad.Secret)/2] ^= 1
	if got, err := ak.ActivateCredentialWithEK(tpm, bad.ToGo(), ga.EK{Public: ekKey}); err == nil && attest.CheckActivation(secret, got) == nil {
		t.Fatal("a corrupted challenge activated")
	}

	fp, _ := attest.EKFingerprint(parsed.EKPublic)
	cases := []struct {
		name    string
		opts    attest.VerifyOptions
		binding string
		code    string
	}{
		{"first contact", attest.VerifyOptions{Nonce: nonce, AKActivated: true, ExpectedEK: fp}, attest.BindingActivated, ""},
		{"afterwards", attest.VerifyOptions{Nonce: nonce, RecordedAK: parsed.AK.Public, ExpectedEK: fp}, attest.BindingRecorded, ""},
		{"stale nonce", attest.VerifyOptions{Nonce: []byte("old"), RecordedAK: parsed.AK.Public}, attest.BindingRecorded, attest.CodeNonceMismatch},
		{"another vTPM", attest.VerifyOptions{Nonce: nonce, ExpectedEK: want[:63] + "0"}, attest.BindingNone, attest.CodeEKMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := attest.Verify(*parsed, c.opts)
			if c.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !r.NonceOK || !r.QuoteOK || !r.LogReplayOK || r.SecureBoot.Enabled || r.Linux == nil || r.AKBinding != c.binding {
					t.Fatalf("result %+v", r)
				}
				if len(r.QuotedPCRs) != 16 || len(r.Notes) != 0 {
					t.Fatalf("quoted %q notes %+v: want 16 PCRs and nothing unchecked", r.QuotedPCRs, r.Notes)
				}
				return
			}
			if err == nil || r.Problems[0].Code != c.code {
				t.Fatalf("Verify = %v, %+v: want %s", err, r.Problems, c.code)
			}
		})
	}
}
