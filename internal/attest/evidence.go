package attest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FormatVersion is the version of the Evidence wire format this package
// writes and reads. A document with another format_version is refused.
const FormatVersion = 1

// DefaultLimit is the size Parse callers should pass unless they know better:
// a Windows event log is a few hundred KiB, and base64 adds a third.
const DefaultLimit = 16 << 20

// Evidence is one attestation as the guest agent (`tlreconcile guest attest`)
// prints it and `tlreconcile attest verify` reads it: a JSON document. Every
// []byte field is standard base64 in JSON (encoding/json's rule).
type Evidence struct {
	// FormatVersion is FormatVersion.
	FormatVersion int `json:"format_version"`
	// TPMVersion is 2 for TPM 2.0; the verifier refuses anything else.
	TPMVersion int `json:"tpm_version"`
	// EKPublic is the endorsement key's public area as a TPM2B_PUBLIC: a
	// 2-byte big-endian size, then the TPMT_PUBLIC (what tpm2.Marshal of
	// ReadPublic's or CreatePrimary's OutPublic gives). Its fingerprint (sha256
	// of the TPMT_PUBLIC) is vtpm.FingerprintBytes, the vTPM identity tlreconcile
	// records; the agent sends the ECC P-256 EK, the one that identity names.
	// Optional: without it the AK cannot be bound to an EK.
	EKPublic []byte `json:"ek_public,omitempty"`
	// EKCertificate is the EK certificate (DER), when the TPM has one.
	EKCertificate []byte `json:"ek_certificate,omitempty"`
	// AK is the attestation key (go-attestation's AttestationParameters).
	AK AKParameters `json:"ak"`
	// Nonce is the nonce the agent was asked to quote with.
	Nonce []byte `json:"nonce,omitempty"`
	// Quotes are TPM2_Quote results over PCRs 0-15, one per PCR bank.
	Quotes []Quote `json:"quotes"`
	// PCRs are the PCR values the quotes cover.
	PCRs []PCR `json:"pcrs"`
	// EventLog is the raw TCG event log (binary_bios_measurements on Linux,
	// the TBS log on Windows).
	EventLog []byte `json:"event_log"`
}

// AKParameters are go-attestation's attest.AttestationParameters for TPM 2.0.
type AKParameters struct {
	// Public is the AK's TPMT_PUBLIC (attest.AttestationParameters.Public).
	Public []byte `json:"public"`
	// CreateData is the TPMS_CREATION_DATA of the AK.
	CreateData []byte `json:"create_data,omitempty"`
	// CreateAttestation is the TPMS_ATTEST certifying the AK's creation.
	CreateAttestation []byte `json:"create_attestation,omitempty"`
	// CreateSignature is the TPMT_SIGNATURE over CreateAttestation.
	CreateSignature []byte `json:"create_signature,omitempty"`
}

// Quote is one TPM2_Quote (go-attestation's attest.Quote).
type Quote struct {
	// Alg names the PCR bank quoted: "sha256" or "sha1". Informational: the
	// verifier reads the bank from the quote itself.
	Alg string `json:"alg,omitempty"`
	// Quote is the TPMS_ATTEST the TPM signed.
	Quote []byte `json:"quote"`
	// Signature is the TPMT_SIGNATURE over Quote.
	Signature []byte `json:"signature"`
}

// PCR is one PCR value.
type PCR struct {
	Index int `json:"index"`
	// Alg is "sha256" or "sha1".
	Alg string `json:"alg"`
	// Digest is the PCR value.
	Digest []byte `json:"digest"`
}

// The PCR bank names used in Evidence.
const (
	AlgSHA1   = "sha1"
	AlgSHA256 = "sha256"
)

// Parse reads one attestation of at most limit bytes from r. It accepts the
// Evidence document and, converting them, go-attestation's PlatformParameters
// JSON and the dump JSON of go-attestation's attest-tool (the format of its
// testdata, e.g. windows_gcp_shielded_vm.json). Parse checks the shape only;
// Verify decides whether the attestation is good.
func Parse(r io.Reader, limit int64) (*Evidence, error) {
	data, err := readLimited(r, limit)
	if err != nil {
		return nil, err
	}
	return ParseBytes(data)
}

// readLimited reads all of r, failing when it holds more than limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("attest: parse: limit %d: pass a positive size such as attest.DefaultLimit", limit)
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("attest: read attestation: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("attest: attestation is larger than %d bytes: is this the right file?", limit)
	}
	return data, nil
}

// ParseBytes is Parse for a document already in memory.
func ParseBytes(data []byte) (*Evidence, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("attest: attestation is empty: expected a JSON document from `tlreconcile guest attest`")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("attest: attestation is not a JSON object: expected the output of `tlreconcile guest attest` (a raw TCG event log is read with ParseRawLog)")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &keys); err != nil {
		return nil, fmt.Errorf("attest: attestation: %s", jsonReason(trimmed, err))
	}
	switch {
	case keys["format_version"] != nil:
		return parseEvidence(trimmed)
	case keys["Static"] != nil || keys["Log"] != nil:
		return parseDump(trimmed)
	case keys["Public"] != nil && keys["EventLog"] != nil:
		return parsePlatform(trimmed)
	default:
		return nil, errors.New("attest: attestation has no format_version: expected the output of `tlreconcile guest attest` (or go-attestation's PlatformParameters JSON)")
	}
}

func parseEvidence(data []byte) (*Evidence, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ev Evidence
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("attest: attestation: %s", jsonReason(data, err))
	}
	if ev.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("attest: attestation format_version %d: this tlreconcile reads version %d: use the tlreconcile that wrote it", ev.FormatVersion, FormatVersion)
	}
	if err := ev.check(); err != nil {
		return nil, err
	}
	return &ev, nil
}

// check reports the first shape error: a field that is required or out of
// range. It does not verify anything cryptographic.
func (ev *Evidence) check() error {
	if ev.TPMVersion != 1 && ev.TPMVersion != 2 {
		return fmt.Errorf("attest: attestation tpm_version %d: expected 2 (TPM 2.0)", ev.TPMVersion)
	}
	if len(ev.EKPublic) > 0 {
		if _, err := TPMTPublic(ev.EKPublic); err != nil {
			return fmt.Errorf("attest: attestation ek_public: %w", err)
		}
	}
	for i, p := range ev.PCRs {
		if p.Index < 0 || p.Index > 23 {
			return fmt.Errorf("attest: attestation pcrs[%d]: index %d: PCRs are 0-23", i, p.Index)
		}
		size, ok := digestSize(p.Alg)
		if !ok {
			return fmt.Errorf("attest: attestation pcrs[%d]: alg %q: expected %q or %q", i, p.Alg, AlgSHA256, AlgSHA1)
		}
		if len(p.Digest) != size {
			return fmt.Errorf("attest: attestation pcrs[%d] (PCR %d %s): digest is %d bytes, want %d", i, p.Index, p.Alg, len(p.Digest), size)
		}
	}
	for i, q := range ev.Quotes {
		if len(q.Quote) == 0 || len(q.Signature) == 0 {
			return fmt.Errorf("attest: attestation quotes[%d]: quote and signature are both required", i)
		}
	}
	return nil
}

func digestSize(alg string) (int, bool) {
	switch alg {
	case AlgSHA256:
		return 32, true
	case AlgSHA1:
		return 20, true
	}
	return 0, false
}

// TPMTPublic returns the TPMT_PUBLIC inside a TPM2B_PUBLIC, checking that the
// size prefix matches what follows.
func TPMTPublic(tpm2b []byte) ([]byte, error) {
	if len(tpm2b) < 2 {
		return nil, fmt.Errorf("TPM2B_PUBLIC of %d bytes: too short for its size prefix", len(tpm2b))
	}
	size := int(binary.BigEndian.Uint16(tpm2b))
	if size != len(tpm2b)-2 || size == 0 {
		return nil, fmt.Errorf("TPM2B_PUBLIC size prefix says %d bytes but %d follow: send tpm2.Marshal(OutPublic), the size-prefixed public area", size, len(tpm2b)-2)
	}
	return tpm2b[2:], nil
}

// jsonReason turns a decoding error into text naming the line and column.
func jsonReason(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d column %d: %s", line, col, strings.TrimPrefix(err.Error(), "json: "))
}
