// Package guestagent is tlreconcile's attestation agent inside a guest
// (DESIGN §8): `tlreconcile guest attest` and `guest activate`. It opens the
// guest's TPM (Windows through TBS, Linux through /dev/tpmrm0), makes or
// reuses an attestation key, and answers with the EK public area, the AK,
// a quote over PCRs 0-15 with the verifier's nonce and the TCG event log
// (attest.Evidence). The AK is a primary key of the endorsement hierarchy
// (restricted ECDSA P-256): the TPM re-creates the same one from its
// endorsement seed whenever it is asked, so the agent keeps no file and
// changes nothing in the guest, and a reset vTPM has a new AK with its new
// EK. It needs no network. The simulated guest runs the same code over its vTPM
// (NewSession with a command channel). It builds without cgo.
package guestagent

import (
	"errors"
	"fmt"
	"io"

	ga "github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// quotedPCRs are the PCRs a quote covers.
var quotedPCRs = []uint{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// Session is one open TPM.
type Session struct {
	tpm *ga.TPM       // PCR values and the event log
	raw io.ReadWriter // raw TPM 2.0 commands: the EK, the AK, the quote
	own io.Closer     // closed with the session; nil when the caller owns it
}

// Channel is a TPM 2.0 command pipe with the event log the firmware
// measured into it.
type Channel interface {
	io.ReadWriteCloser
	MeasurementLog() ([]byte, error)
}

// NewSession opens a session over ch (the simulated guest's vTPM, a test's
// TPM simulator). The caller closes ch.
func NewSession(ch Channel) (*Session, error) {
	tpm, err := ga.OpenTPM(&ga.OpenConfig{CommandChannel: nopClose{ch}})
	if err != nil {
		return nil, fmt.Errorf("guest agent: open the TPM: %w", err)
	}
	return &Session{tpm: tpm, raw: ch}, nil
}

// nopClose keeps go-attestation's Close from closing the caller's channel.
type nopClose struct{ Channel }

func (nopClose) Close() error { return nil }

// Close closes the TPM (and what Open opened).
func (s *Session) Close() error {
	err := s.tpm.Close()
	if s.own != nil {
		err = errors.Join(err, s.own.Close())
	}
	return err
}

func (s *Session) tr() transport.TPM { return transport.FromReadWriter(s.raw) }

// Attest returns the attestation for nonce: the EK, the AK with its
// creation certified by itself, a quote over PCRs 0-15 (SHA-256) carrying
// the nonce, the PCR values and the event log.
func (s *Session) Attest(nonce []byte) (attest.Evidence, error) {
	if len(nonce) < 8 || len(nonce) > 64 {
		return attest.Evidence{}, fmt.Errorf("guest agent: a nonce of %d bytes: give 8 to 64 (hex)", len(nonce))
	}
	ek, err := s.ekPublic()
	if err != nil {
		return attest.Evidence{}, err
	}
	ak, err := s.createAK()
	if err != nil {
		return attest.Evidence{}, err
	}
	defer s.flush(ak.handle)
	ev := attest.Evidence{FormatVersion: attest.FormatVersion, TPMVersion: 2, EKPublic: ek, AK: ak.params, Nonce: nonce}
	// Both banks: a log the firmware wrote in the SHA-1 format (as Windows'
	// older Shielded VM firmware does) replays only against SHA-1 PCRs.
	for _, bank := range []struct {
		name string
		alg  tpm2.TPMAlgID
		ga   ga.HashAlg
	}{{attest.AlgSHA256, tpm2.TPMAlgSHA256, ga.HashSHA256}, {attest.AlgSHA1, tpm2.TPMAlgSHA1, ga.HashSHA1}} {
		quote, sig, pcrs, err := s.quoteStable(ak, nonce, bank.alg, bank.ga, bank.name)
		if err != nil {
			if bank.alg == tpm2.TPMAlgSHA1 {
				continue // no SHA-1 bank allocated
			}
			return attest.Evidence{}, err
		}
		ev.Quotes = append(ev.Quotes, attest.Quote{Alg: bank.name, Quote: quote, Signature: sig})
		ev.PCRs = append(ev.PCRs, pcrs...)
	}
	if ev.EventLog, err = s.tpm.MeasurementLog(); err != nil {
		return attest.Evidence{}, fmt.Errorf("guest agent: read the TCG event log: %w", err)
	}
	return ev, nil
}

// quoteStable quotes bank and reads its PCRs until the values read before
// and after the quote agree, so the values sent are the quoted ones (IMA
// extends PCR 10 on a running Linux at any time).
func (s *Session) quoteStable(k akKey, nonce []byte, alg tpm2.TPMAlgID, h ga.HashAlg, name string) (quote, sig []byte, pcrs []attest.PCR, err error) {
	for try := 0; try < 5; try++ {
		before, err := s.pcrs(h, name)
		if err != nil {
			return nil, nil, nil, err
		}
		if quote, sig, err = s.quote(k, nonce, alg); err != nil {
			return nil, nil, nil, err
		}
		after, err := s.pcrs(h, name)
		if err != nil {
			return nil, nil, nil, err
		}
		if samePCRs(before, after) {
			return quote, sig, after, nil
		}
	}
	return nil, nil, nil, fmt.Errorf("guest agent: the %s PCRs kept changing while they were quoted: try again", name)
}

func samePCRs(a, b []attest.PCR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Index != b[i].Index || string(a[i].Digest) != string(b[i].Digest) {
			return false
		}
	}
	return true
}

func (s *Session) pcrs(h ga.HashAlg, name string) ([]attest.PCR, error) {
	all, err := s.tpm.PCRs(h)
	if err != nil {
		return nil, fmt.Errorf("guest agent: read the %s PCRs: %w", name, err)
	}
	var out []attest.PCR
	for _, p := range all {
		if p.Index < len(quotedPCRs) {
			out = append(out, attest.PCR{Index: p.Index, Alg: name, Digest: p.Digest})
		}
	}
	return out, nil
}

// Activate answers the verifier's credential challenge with the AK and the
// ECC EK: the secret, which only this TPM can recover.
func (s *Session) Activate(cred attest.EncryptedCredential) ([]byte, error) {
	if len(cred.Credential) < 2 || len(cred.Secret) < 2 {
		return nil, errors.New("guest agent: activate: the credential is empty")
	}
	ak, err := s.createAK()
	if err != nil {
		return nil, err
	}
	defer s.flush(ak.handle)
	tr := s.tr()
	ek, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHEndorsement, InPublic: tpm2.New2B(tpm2.ECCEKTemplate)}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("guest agent: load the ECC EK: %w", err)
	}
	defer s.flush(ek.ObjectHandle)
	endorsement := tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(t transport.TPM, h tpm2.TPMISHPolicy, nonceTPM tpm2.TPM2BNonce) error {
		_, err := tpm2.PolicySecret{AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHEndorsement, Auth: tpm2.PasswordAuth(nil)},
			PolicySession: h, NonceTPM: nonceTPM}.Execute(t)
		return err
	})
	rsp, err := tpm2.ActivateCredential{
		ActivateHandle: tpm2.AuthHandle{Handle: ak.handle, Name: ak.name, Auth: tpm2.PasswordAuth(nil)},
		KeyHandle:      tpm2.AuthHandle{Handle: ek.ObjectHandle, Name: ek.Name, Auth: endorsement},
		CredentialBlob: tpm2.TPM2BIDObject{Buffer: cred.Credential[2:]},
		Secret:         tpm2.TPM2BEncryptedSecret{Buffer: cred.Secret[2:]},
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("guest agent: activate the credential: %w", err)
	}
	return rsp.CertInfo.Buffer, nil
}

// ekPublic is the TPM2B_PUBLIC of the standard ECC P-256 EK (its sha256 is
// the vTPM identity tlreconcile records).
func (s *Session) ekPublic() ([]byte, error) {
	tr := s.tr()
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHEndorsement, InPublic: tpm2.New2B(tpm2.ECCEKTemplate)}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("guest agent: read the ECC EK: %w", err)
	}
	defer s.flush(rsp.ObjectHandle)
	return tpm2.Marshal(rsp.OutPublic), nil
}

func (s *Session) flush(h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(s.tr())
}
