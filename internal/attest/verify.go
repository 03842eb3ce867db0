package attest

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"strings"

	ga "github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"
)

// VerifyOptions say what the verifier expects of an attestation.
type VerifyOptions struct {
	// Nonce is the nonce the verifier gave the agent. Without one the quote's
	// freshness is not checked (a Note says so): fine for looking at a saved
	// attestation, never for deciding about a VM.
	Nonce []byte
	// RecordedAK is the AK's TPMT_PUBLIC recorded at first contact, after its
	// credential was activated; a different AK is ak-not-bound.
	RecordedAK []byte
	// AKActivated says the caller activated a credential for this
	// attestation's AK and EK (Challenge, the agent's answer, CheckActivation):
	// first contact.
	AKActivated bool
	// ExpectedEK is the recorded vTPM identity (EKFingerprint); a different EK
	// is ek-mismatch. "" compares nothing.
	ExpectedEK string
	// LogOnly accepts an attestation without quotes (a raw event log, see
	// ParseRawLog): the log is replayed against the PCR values it implies and
	// the Result's Mode is ModeLogOnly.
	LogOnly bool
}

// Error is the error Verify returns when the attestation failed: the
// Result's Problems.
type Error struct {
	Problems []Problem
}

// ErrFailed matches every *Error with errors.Is.
var ErrFailed = errors.New("attestation failed")

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		parts = append(parts, p.Code+": "+p.Reason)
	}
	return "attestation failed: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrFailed) true.
func (e *Error) Is(target error) bool { return target == ErrFailed }

// Verify checks one attestation and extracts how the VM booted. The error is
// an *Error exactly when Result.Problems is not empty; the Result is filled
// as far as the checks got either way.
func Verify(ev Evidence, opts VerifyOptions) (Result, error) {
	r := Result{
		Mode: ModeQuote, TPMVersion: ev.TPMVersion, AKBinding: BindingNone,
		QuotedPCRs: []string{}, BootApps: []string{}, Problems: []Problem{}, Notes: []Problem{},
	}
	if opts.LogOnly && len(ev.Quotes) == 0 {
		r.Mode = ModeLogOnly
	}
	if ev.TPMVersion != 2 {
		r.fail(CodeTPM12, "the attestation comes from a TPM %d.x: trusted launch needs TPM 2.0 (TPM 1.2 has no SHA-256 PCRs and no credential activation this verifier accepts)", ev.TPMVersion)
		return r, r.err()
	}
	identify(&r, ev, opts)
	var pcrs []ga.PCR
	if r.Mode == ModeQuote {
		pcrs = checkQuotes(&r, ev, opts)
	} else {
		r.note(CodeQuoteUnchecked, "log-only: the event log came without a quote, so nothing proves its PCR values were a TPM's; it was replayed against the values it implies")
	}
	if events := replayLog(&r, ev, pcrs); events != nil {
		extract(&r, events)
	}
	return r, r.err()
}

func (r *Result) err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return &Error{Problems: r.Problems}
}

// identify fingerprints the EK and AK, checks the AK's creation parameters
// and how the AK is bound to the EK.
func identify(r *Result, ev Evidence, opts VerifyOptions) {
	if len(ev.EKPublic) > 0 {
		fp, err := EKFingerprint(ev.EKPublic)
		if err != nil {
			r.fail(CodeEvidence, "ek_public: %v", err)
		}
		r.EKFingerprint = fp
	}
	if opts.ExpectedEK != "" && r.EKFingerprint != opts.ExpectedEK {
		got := r.EKFingerprint
		if got == "" {
			got = "none (no ek_public)"
		}
		r.fail(CodeEKMismatch, "the attestation's EK fingerprint is %s, the recorded vTPM identity is %s: this is another vTPM", got, opts.ExpectedEK)
	}
	if len(ev.AK.Public) == 0 {
		if r.Mode == ModeQuote {
			r.fail(CodeAKInvalid, "the attestation has no ak.public: the agent must send its AK's public area")
		}
		return
	}
	r.AKFingerprint = AKFingerprint(ev.AK.Public)
	if len(ev.AK.CreateAttestation) > 0 {
		ap := ga.ActivationParameters{AK: ga.AttestationParameters{
			Public: ev.AK.Public, CreateData: ev.AK.CreateData,
			CreateAttestation: ev.AK.CreateAttestation, CreateSignature: ev.AK.CreateSignature,
		}}
		if err := ap.CheckAKParameters(); err != nil {
			r.fail(CodeAKParameters, "the AK's creation data do not show a restricted, fixed, TPM-generated signing key: %v", err)
		}
	} else {
		r.note(CodeAKParameters, "the AK came without creation data: its attributes (restricted, fixedTPM) were not checked")
	}
	switch {
	case opts.RecordedAK != nil:
		if subtle.ConstantTimeCompare(opts.RecordedAK, ev.AK.Public) != 1 {
			r.fail(CodeAKNotBound, "the quote is signed by AK %s, but the AK recorded at first contact is %s: activate a credential again", r.AKFingerprint, AKFingerprint(opts.RecordedAK))
			return
		}
		r.AKBinding = BindingRecorded
	case opts.AKActivated:
		r.AKBinding = BindingActivated
	default:
		r.note(CodeAKUnbound, "the AK is not bound to an EK (no credential activation, no recorded AK): the quote shows some TPM key signed these PCRs, not which TPM")
	}
}

// checkQuotes verifies every quote against the AK and the PCR values and
// returns the PCRs for the replay.
func checkQuotes(r *Result, ev Evidence, opts VerifyOptions) []ga.PCR {
	pcrs := toGoPCRs(ev.PCRs)
	if len(ev.Quotes) == 0 {
		r.fail(CodeNoQuote, "the attestation has no quote: run `tlreconcile guest attest` again, or pass a raw event log to verify it log-only")
		return pcrs
	}
	ak, err := ga.ParseAKPublic(ev.AK.Public)
	if err != nil {
		if len(ev.AK.Public) > 0 {
			r.fail(CodeAKInvalid, "ak.public is not a TPMT_PUBLIC of a signing key: %v", err)
		}
		return pcrs
	}
	before := len(r.Problems)
	quoted := map[string]bool{}
	nonceChecked := opts.Nonce != nil
	for i, q := range ev.Quotes {
		checkQuote(r, ak, i, q, pcrs, ev.Nonce, opts.Nonce, quoted)
	}
	if !nonceChecked {
		r.note(CodeNonceUnchecked, "no expected nonce was given: the quote may be a replay of an older one (pass --nonce)")
	}
	var missing []string
	for _, p := range pcrs {
		if !p.QuoteVerified() {
			missing = append(missing, fmt.Sprintf("%d (%s)", p.Index, hashName(p.DigestAlg)))
		}
	}
	if len(missing) > 0 && len(r.Problems) == before {
		r.fail(CodePCRNotQuoted, "PCR %s: in the attestation but not covered by a verified quote", strings.Join(missing, ", "))
	}
	r.QuotedPCRs = sortedKeys(quoted)
	r.QuoteOK = len(r.Problems) == before
	r.NonceOK = nonceChecked && r.QuoteOK
	return pcrs
}

// checkQuote verifies quote i: its nonce, its signature by ak and that the
// PCR values are the ones it covers.
func checkQuote(r *Result, ak *ga.AKPublic, i int, q Quote, pcrs []ga.PCR, evNonce, want []byte, quoted map[string]bool) {
	att, err := tpm2.DecodeAttestationData(q.Quote)
	if err != nil || att.AttestedQuoteInfo == nil {
		r.fail(CodeQuoteSignature, "quote %d is not a TPMS_ATTEST quote structure: %v", i, err)
		return
	}
	extra := []byte(att.ExtraData)
	switch {
	case want != nil && !bytes.Equal(extra, want):
		r.fail(CodeNonceMismatch, "quote %d carries nonce %x, the verifier expected %x: a stale or replayed quote", i, extra, want)
	case want == nil && evNonce != nil && !bytes.Equal(extra, evNonce):
		r.fail(CodeNonceMismatch, "quote %d carries nonce %x, but the attestation's nonce field is %x", i, extra, evNonce)
	}
	if err := ak.Verify(ga.Quote{Quote: q.Quote, Signature: q.Signature}, pcrs, extra); err != nil {
		code := CodeQuotePCRs
		if strings.Contains(err.Error(), "signature") {
			code = CodeQuoteSignature
		}
		r.fail(code, "quote %d (%s bank): %v", i, tpmAlgString(att.AttestedQuoteInfo.PCRSelection.Hash), err)
		return
	}
	alg := tpmAlgString(att.AttestedQuoteInfo.PCRSelection.Hash)
	for _, p := range att.AttestedQuoteInfo.PCRSelection.PCRs {
		quoted[fmt.Sprintf("%s:%02d", alg, p)] = true
	}
}

func toGoPCRs(in []PCR) []ga.PCR {
	out := make([]ga.PCR, 0, len(in))
	for _, p := range in {
		h := crypto.SHA256
		if p.Alg == AlgSHA1 {
			h = crypto.SHA1
		}
		out = append(out, ga.PCR{Index: p.Index, Digest: p.Digest, DigestAlg: h})
	}
	return out
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return AlgSHA1
	case crypto.SHA256:
		return AlgSHA256
	}
	return h.String()
}

func tpmAlgString(a tpm2.Algorithm) string {
	if s := tpmAlgName(int(a)); s != "" {
		return s
	}
	return fmt.Sprintf("alg %#04x", uint16(a))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
