package attest

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
)

// goPCR is a PCR as go-attestation marshals attest.PCR: DigestAlg is a
// crypto.Hash number (3 sha1, 5 sha256).
type goPCR struct {
	Index     int
	Digest    []byte
	DigestAlg crypto.Hash
}

// goQuote is go-attestation's attest.Quote (Version only in releases before
// v0.6, which still spoke TPM 1.2).
type goQuote struct {
	Version   int
	Quote     []byte
	Signature []byte
}

// goAK is go-attestation's attest.AttestationParameters.
type goAK struct {
	Public                  []byte
	UseTCSDActivationFormat bool
	CreateData              []byte
	CreateAttestation       []byte
	CreateSignature         []byte
}

// goDump is the JSON attest-tool writes and go-attestation's testdata holds.
type goDump struct {
	Static struct {
		TPMVersion int
		EKPem      []byte
	}
	AK    goAK
	Quote struct {
		Nonce     []byte
		Alg       int
		Quote     []byte
		Signature []byte
	}
	Log struct {
		PCRs []goPCR
		Raw  []byte
	}
}

// goPlatform is go-attestation's attest.PlatformParameters.
type goPlatform struct {
	TPMVersion int
	Public     []byte
	Quotes     []goQuote
	PCRs       []goPCR
	EventLog   []byte
}

func parseDump(data []byte) (*Evidence, error) {
	var d goDump
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("attest: go-attestation dump: %s", jsonReason(data, err))
	}
	ev := &Evidence{
		FormatVersion: FormatVersion,
		TPMVersion:    d.Static.TPMVersion,
		AK:            akFromGo(d.AK),
		Nonce:         d.Quote.Nonce,
		EventLog:      d.Log.Raw,
	}
	if ev.TPMVersion == 0 {
		ev.TPMVersion = 2
	}
	if len(d.Quote.Quote) > 0 {
		ev.Quotes = []Quote{{Alg: tpmAlgName(d.Quote.Alg), Quote: d.Quote.Quote, Signature: d.Quote.Signature}}
	}
	var err error
	if ev.PCRs, err = pcrsFromGo(d.Log.PCRs); err != nil {
		return nil, fmt.Errorf("attest: go-attestation dump: %w", err)
	}
	if ev.TPMVersion == 2 {
		if err := ev.check(); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

func parsePlatform(data []byte) (*Evidence, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p goPlatform
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("attest: go-attestation PlatformParameters: %s", jsonReason(data, err))
	}
	ev := &Evidence{
		FormatVersion: FormatVersion,
		TPMVersion:    p.TPMVersion,
		AK:            AKParameters{Public: p.Public},
		EventLog:      p.EventLog,
	}
	if ev.TPMVersion == 0 {
		ev.TPMVersion = 2
	}
	for _, q := range p.Quotes {
		if q.Version != 0 && q.Version != 2 {
			ev.TPMVersion = q.Version
		}
		ev.Quotes = append(ev.Quotes, Quote{Quote: q.Quote, Signature: q.Signature})
	}
	var err error
	if ev.PCRs, err = pcrsFromGo(p.PCRs); err != nil {
		return nil, fmt.Errorf("attest: go-attestation PlatformParameters: %w", err)
	}
	if ev.TPMVersion == 2 {
		if err := ev.check(); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

func akFromGo(a goAK) AKParameters {
	return AKParameters{Public: a.Public, CreateData: a.CreateData, CreateAttestation: a.CreateAttestation, CreateSignature: a.CreateSignature}
}

func pcrsFromGo(in []goPCR) ([]PCR, error) {
	out := make([]PCR, 0, len(in))
	for i, p := range in {
		var alg string
		switch p.DigestAlg {
		case crypto.SHA1:
			alg = AlgSHA1
		case crypto.SHA256:
			alg = AlgSHA256
		default:
			return nil, fmt.Errorf("PCRs[%d] (PCR %d): DigestAlg %d: only sha1 (3) and sha256 (5) banks are read", i, p.Index, int(p.DigestAlg))
		}
		out = append(out, PCR{Index: p.Index, Alg: alg, Digest: p.Digest})
	}
	return out, nil
}

// tpmAlgName names a TPM_ALG_ID hash.
func tpmAlgName(id int) string {
	switch id {
	case 0x0004:
		return AlgSHA1
	case 0x000B:
		return AlgSHA256
	}
	return ""
}

// ParseRawLog wraps a raw TCG event log (as read from
// /sys/kernel/security/tpm0/binary_bios_measurements) in an Evidence without
// quotes. Verify with VerifyOptions.LogOnly replays it against the PCR values
// it implies; nothing proves those were the TPM's, and the Result says so.
func ParseRawLog(data []byte) (*Evidence, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("attest: event log is empty")
	}
	return &Evidence{FormatVersion: FormatVersion, TPMVersion: 2, EventLog: data}, nil
}

// ParseAny reads a JSON attestation (ParseBytes) or, when the data is not
// JSON, a raw TCG event log (ParseRawLog); raw reports which it was.
func ParseAny(data []byte) (ev *Evidence, raw bool, err error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		ev, err = ParseBytes(data)
		return ev, false, err
	}
	ev, err = ParseRawLog(data)
	return ev, true, err
}
