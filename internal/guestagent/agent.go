package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	ga "github.com/google/go-attestation/attest"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// MaxNonce is the longest nonce a TPM takes as a quote's qualifying data
// (a TPM2B_DATA holds one digest of the largest algorithm, SHA-512).
const MaxNonce = 64

// QuotedPCRs are the PCRs the agent quotes: the firmware, boot manager and
// OS loader's (DESIGN §8), not the OS's own 16-23.
var QuotedPCRs = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// Options say where the agent keeps its AK.
type Options struct {
	// Keys keeps the AK blob between runs. Required.
	Keys KeyStore
}

// Report is what one run did besides the evidence, for the human summary.
type Report struct {
	// AKCreated says a new AK was made (first run, or the stored one no
	// longer loads on this TPM: a new vTPM).
	AKCreated bool
	// AKReplaced says a stored AK blob did not load and was replaced.
	AKReplaced bool
}

// Attest quotes PCRs 0-15 of the TPM behind ch with nonce and returns the
// evidence the verifier reads (attest.Evidence, format_version 1). It reuses
// the AK in opts.Keys, making and storing one when there is none or it no
// longer loads. Attest changes nothing else: the AK is flushed again and the
// ECC EK, when not persistent, is derived and flushed.
func Attest(ctx context.Context, ch Channel, nonce []byte, opts Options) (attest.Evidence, Report, error) {
	var rep Report
	if err := checkNonce(nonce); err != nil {
		return attest.Evidence{}, rep, err
	}
	tpm, ak, rep, err := openAK(ctx, ch, opts)
	if err != nil {
		return attest.Evidence{}, rep, err
	}
	defer ak.Close(tpm) //nolint:errcheck // flushing a transient AK; the blob stays
	ev, err := collect(ctx, ch, tpm, ak, nonce)
	return ev, rep, err
}

func checkNonce(nonce []byte) error {
	switch {
	case len(nonce) == 0:
		return errors.New("guestagent: no nonce: the verifier's nonce makes the quote fresh; pass --nonce HEX")
	case len(nonce) > MaxNonce:
		return fmt.Errorf("guestagent: nonce of %d bytes: a TPM quotes at most %d bytes of nonce", len(nonce), MaxNonce)
	}
	return nil
}

// openAK opens go-attestation's TPM over ch and loads the stored AK, or
// makes and stores a new one.
func openAK(ctx context.Context, ch Channel, opts Options) (*ga.TPM, *ga.AK, Report, error) {
	var rep Report
	if opts.Keys == nil {
		return nil, nil, rep, errors.New("guestagent: no key store: set Options.Keys (a FileStore for --state DIR)")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, rep, err
	}
	tpm, err := ga.OpenTPM(&ga.OpenConfig{CommandChannel: ch})
	if err != nil {
		return nil, nil, rep, fmt.Errorf("guestagent: open the TPM: %w", err)
	}
	blob, err := opts.Keys.Load()
	if err != nil {
		return nil, nil, rep, err
	}
	if len(blob) > 0 {
		ak, err := tpm.LoadAK(blob)
		if err == nil {
			return tpm, ak, rep, nil
		}
		// A blob this TPM cannot load was made by another TPM (the vTPM was
		// reset or replaced): the verifier will see a new AK, and a new EK
		// if the vTPM is new, and decide.
		rep.AKReplaced = true
	}
	ak, err := tpm.NewAK(nil)
	if err != nil {
		return nil, nil, rep, fmt.Errorf("guestagent: create an attestation key: %w", err)
	}
	rep.AKCreated = true
	blob, err = ak.Marshal()
	if err == nil {
		err = opts.Keys.Save(blob)
	}
	if err != nil {
		ak.Close(tpm) //nolint:errcheck // the error that matters is err
		return nil, nil, rep, fmt.Errorf("guestagent: keep the new attestation key: %w", err)
	}
	return tpm, ak, rep, nil
}

// collect reads what the verifier needs with ak loaded.
func collect(ctx context.Context, ch Channel, tpm *ga.TPM, ak *ga.AK, nonce []byte) (attest.Evidence, error) {
	ek, err := readECCEK(tpmTransport(ch))
	if err != nil {
		return attest.Evidence{}, err
	}
	if err := ctx.Err(); err != nil {
		return attest.Evidence{}, err
	}
	q, pcrs, err := quoteSteady(tpm, ak, nonce)
	if err != nil {
		return attest.Evidence{}, err
	}
	log, err := tpm.MeasurementLog()
	if err != nil {
		return attest.Evidence{}, fmt.Errorf("guestagent: read the TCG event log: %w", err)
	}
	ap := ak.AttestationParameters()
	ev := attest.Evidence{
		FormatVersion: attest.FormatVersion,
		TPMVersion:    2,
		EKPublic:      ek,
		AK: attest.AKParameters{
			Public: ap.Public, CreateData: ap.CreateData,
			CreateAttestation: ap.CreateAttestation, CreateSignature: ap.CreateSignature,
		},
		Nonce:    append([]byte(nil), nonce...),
		Quotes:   []attest.Quote{{Alg: attest.AlgSHA256, Quote: q.Quote, Signature: q.Signature}},
		PCRs:     make([]attest.PCR, 0, len(QuotedPCRs)),
		EventLog: log,
	}
	for _, p := range pcrs {
		if p.Index >= 0 && p.Index < len(QuotedPCRs) {
			ev.PCRs = append(ev.PCRs, attest.PCR{Index: p.Index, Alg: attest.AlgSHA256, Digest: p.Digest})
		}
	}
	return ev, nil
}

// quoteAttempts bounds how often quoteSteady tries.
const quoteAttempts = 5

// quoteSteady quotes PCRs 0-15 and returns the quote with the PCR values it
// covers. The values are read before and after the quote and must agree: on
// a running system a PCR can move in between (Linux IMA extends PCR 10 as
// files are opened), and a quote sent with other values fails verification.
func quoteSteady(tpm *ga.TPM, ak *ga.AK, nonce []byte) (*ga.Quote, []ga.PCR, error) {
	for attempt := 0; attempt < quoteAttempts; attempt++ {
		before, err := tpm.PCRs(ga.HashSHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("guestagent: read the sha256 PCRs: %w", err)
		}
		q, err := ak.QuotePCRs(tpm, nonce, ga.HashSHA256, QuotedPCRs)
		if err != nil {
			return nil, nil, fmt.Errorf("guestagent: quote PCRs 0-15 (sha256): %w", err)
		}
		after, err := tpm.PCRs(ga.HashSHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("guestagent: read the sha256 PCRs: %w", err)
		}
		if samePCRs(before, after) {
			return q, after, nil
		}
	}
	return nil, nil, fmt.Errorf("guestagent: PCRs 0-15 changed during each of %d quotes: something keeps extending them (IMA on PCR 10?); try again", quoteAttempts)
}

func samePCRs(a, b []ga.PCR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || !bytes.Equal(a[i].Digest, b[i].Digest) {
			return false
		}
	}
	return true
}
