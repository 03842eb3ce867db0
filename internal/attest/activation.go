package attest

import (
	"crypto/subtle"
	"errors"
	"fmt"

	ga "github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"
)

// EncryptedCredential is the credential-activation challenge the verifier
// sends to the agent (go-attestation's attest.EncryptedCredential); the agent
// answers with AK.ActivateCredential's secret.
type EncryptedCredential struct {
	Credential []byte `json:"credential"`
	Secret     []byte `json:"secret"`
}

// Challenge starts credential activation at first contact (TPM2_MakeCredential
// done in software): it returns a random secret, which the caller keeps and
// never prints, and the challenge for the agent. Only the TPM holding the EK
// of ev.EKPublic, with the AK of ev.AK loaded, can recover the secret, so a
// matching answer (CheckActivation) binds the AK to that EK.
func Challenge(ev Evidence) (secret []byte, cred EncryptedCredential, err error) {
	if ev.TPMVersion != 2 {
		return nil, cred, fmt.Errorf("attest: challenge: TPM %d.x: credential activation needs TPM 2.0", ev.TPMVersion)
	}
	if len(ev.EKPublic) == 0 {
		return nil, cred, errors.New("attest: challenge: the attestation has no ek_public: the agent must send its EK to activate a credential")
	}
	tpmt, err := TPMTPublic(ev.EKPublic)
	if err != nil {
		return nil, cred, fmt.Errorf("attest: challenge: ek_public: %w", err)
	}
	pub, err := tpm2.DecodePublic(tpmt)
	if err != nil {
		return nil, cred, fmt.Errorf("attest: challenge: ek_public is not a TPMT_PUBLIC: %w", err)
	}
	key, err := pub.Key()
	if err != nil {
		return nil, cred, fmt.Errorf("attest: challenge: ek_public: %w", err)
	}
	p := ga.ActivationParameters{EK: key, AK: ga.AttestationParameters{
		Public: ev.AK.Public, CreateData: ev.AK.CreateData,
		CreateAttestation: ev.AK.CreateAttestation, CreateSignature: ev.AK.CreateSignature,
	}}
	secret, ec, err := p.Generate()
	if err != nil {
		return nil, cred, fmt.Errorf("attest: challenge: %w", err)
	}
	return secret, EncryptedCredential{Credential: ec.Credential, Secret: ec.Secret}, nil
}

// ErrActivation is returned by CheckActivation for a wrong answer.
var ErrActivation = errors.New("attest: credential activation failed: the answer is not the secret, so the AK is not on the TPM of that EK (ak-not-bound)")

// CheckActivation compares the agent's answer with the secret in constant
// time. Neither value appears in the error.
func CheckActivation(secret, answer []byte) error {
	if len(secret) == 0 {
		return errors.New("attest: check activation: no secret: call Challenge first")
	}
	if subtle.ConstantTimeCompare(secret, answer) != 1 {
		return ErrActivation
	}
	return nil
}

// ToGo converts the challenge for go-attestation's AK.ActivateCredential.
func (c EncryptedCredential) ToGo() ga.EncryptedCredential {
	return ga.EncryptedCredential{Credential: c.Credential, Secret: c.Secret}
}
