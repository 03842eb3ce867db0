package guestagent

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// ekKey is the ECC EK loaded for one command: the persistent one the
// platform provisioned, or one derived from the endorsement seed (the same
// key, by the standard template) that release flushes again. It is the EK
// whose fingerprint vtpm records as the vTPM identity.
type ekKey struct {
	tr        transport.TPM
	handle    tpm2.TPMHandle
	name      tpm2.TPM2BName
	public    tpm2.TPM2BPublic
	transient bool
}

// loadECCEK finds or derives the ECC EK, the same rule as
// vtpm.EKFingerprint.
func loadECCEK(tr transport.TPM) (*ekKey, error) {
	handle, err := vtpm.EKHandle(vtpm.ECC)
	if err != nil {
		return nil, err
	}
	if rsp, err := (tpm2.ReadPublic{ObjectHandle: handle}).Execute(tr); err == nil {
		pub, err := rsp.OutPublic.Contents()
		if err == nil && pub.Type == tpm2.TPMAlgECC {
			return &ekKey{tr: tr, handle: handle, name: rsp.Name, public: rsp.OutPublic}, nil
		}
	}
	template, err := vtpm.EKTemplate(vtpm.ECC)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHEndorsement,
		InPublic:      tpm2.New2B(template),
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("guestagent: derive the ECC EK (endorsement hierarchy, standard template): %w", err)
	}
	return &ekKey{tr: tr, handle: rsp.ObjectHandle, name: rsp.Name, public: rsp.OutPublic, transient: true}, nil
}

// release flushes a derived EK; a persistent one stays.
func (k *ekKey) release() error {
	if !k.transient {
		return nil
	}
	if _, err := (tpm2.FlushContext{FlushHandle: k.handle}).Execute(k.tr); err != nil {
		return fmt.Errorf("guestagent: flush the derived EK %#x: %w", uint32(k.handle), err)
	}
	return nil
}

// readECCEK returns the ECC EK's TPM2B_PUBLIC (attest.Evidence.EKPublic).
func readECCEK(tr transport.TPM) ([]byte, error) {
	ek, err := loadECCEK(tr)
	if err != nil {
		return nil, err
	}
	out := tpm2.Marshal(ek.public)
	if err := ek.release(); err != nil {
		return nil, err
	}
	return out, nil
}
