package guestagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	ga "github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// Activate answers the verifier's credential-activation challenge (made by
// attest.Challenge from this agent's evidence) with the stored AK and the
// ECC EK: TPM2_ActivateCredential, which only this TPM can do for that AK
// and EK. The answer is the secret the verifier compares with
// attest.CheckActivation; callers hand it back and never log it.
//
// go-attestation's own activation looks the EK up at the RSA EK's handle,
// which on a TPM with a persistent RSA EK is the wrong key, and persists an
// EK where there is none; so the activation itself is go-tpm's.
func Activate(ctx context.Context, ch Channel, cred attest.EncryptedCredential, opts Options) ([]byte, error) {
	if len(cred.Credential) < 2 || len(cred.Secret) < 2 {
		return nil, errors.New("guestagent: activate: the challenge has no credential or secret: pass the challenge attest.Challenge made")
	}
	if opts.Keys == nil {
		return nil, errors.New("guestagent: activate: no key store: set Options.Keys (a FileStore for --state DIR)")
	}
	blob, err := opts.Keys.Load()
	if err != nil {
		return nil, err
	}
	if len(blob) == 0 {
		return nil, errors.New("guestagent: activate: no attestation key yet: run `tlreconcile guest attest` first, with the same --state")
	}
	tpm, err := ga.OpenTPM(&ga.OpenConfig{CommandChannel: ch})
	if err != nil {
		return nil, fmt.Errorf("guestagent: open the TPM: %w", err)
	}
	ak, err := tpm.LoadAK(blob)
	if err != nil {
		return nil, fmt.Errorf("guestagent: activate: load the attestation key: %w (a new vTPM cannot load the old AK: attest again)", err)
	}
	defer ak.Close(tpm) //nolint:errcheck // flushing a transient AK
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tr := tpmTransport(ch)
	akHandle, akName, err := findLoaded(tr, ak.AttestationParameters().Public)
	if err != nil {
		return nil, err
	}
	return activateWith(tr, akHandle, akName, cred)
}

// activateWith runs TPM2_ActivateCredential with the AK at akHandle and the
// ECC EK, authorising the EK with its policy (PolicySecret on the
// endorsement hierarchy).
func activateWith(tr transport.TPM, akHandle tpm2.TPMHandle, akName tpm2.TPM2BName, cred attest.EncryptedCredential) (_ []byte, err error) {
	ek, err := loadECCEK(tr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := ek.release(); err == nil {
			err = rerr
		}
	}()
	rsp, err := tpm2.ActivateCredential{
		ActivateHandle: tpm2.NamedHandle{Handle: akHandle, Name: akName},
		KeyHandle: tpm2.AuthHandle{
			Handle: ek.handle, Name: ek.name,
			Auth: tpm2.Policy(tpm2.TPMAlgSHA256, 16, ekPolicy),
		},
		// go-attestation's challenge carries both with their size prefix.
		CredentialBlob: tpm2.TPM2BIDObject{Buffer: cred.Credential[2:]},
		Secret:         tpm2.TPM2BEncryptedSecret{Buffer: cred.Secret[2:]},
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("guestagent: activate credential: %w (the challenge was made for another EK or AK)", err)
	}
	return rsp.CertInfo.Buffer, nil
}

func ekPolicy(tr transport.TPM, handle tpm2.TPMISHPolicy, nonceTPM tpm2.TPM2BNonce) error {
	_, err := tpm2.PolicySecret{
		AuthHandle:    tpm2.TPMRHEndorsement,
		PolicySession: handle,
		NonceTPM:      nonceTPM,
	}.Execute(tr)
	return err
}

// findLoaded returns the transient handle holding the object whose
// TPMT_PUBLIC is public: go-attestation loads the AK but does not say where.
func findLoaded(tr transport.TPM, public []byte) (tpm2.TPMHandle, tpm2.TPM2BName, error) {
	first := uint32(tpm2.TPMHTTransient) << 24
	for {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 16}.Execute(tr)
		if err != nil {
			return 0, tpm2.TPM2BName{}, fmt.Errorf("guestagent: list loaded objects: %w", err)
		}
		hl, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return 0, tpm2.TPM2BName{}, fmt.Errorf("guestagent: list loaded objects: %w", err)
		}
		for _, h := range hl.Handle {
			if uint32(h)>>24 != uint32(tpm2.TPMHTTransient) {
				break
			}
			pub, err := (tpm2.ReadPublic{ObjectHandle: h}).Execute(tr)
			if err == nil && bytes.Equal(pub.OutPublic.Bytes(), public) {
				return h, pub.Name, nil
			}
			first = uint32(h) + 1
		}
		if !rsp.MoreData || len(hl.Handle) == 0 {
			return 0, tpm2.TPM2BName{}, errors.New("guestagent: the loaded attestation key is not among the TPM's loaded objects")
		}
	}
}
