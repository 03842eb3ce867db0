package guestagent

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// akTemplate is the attestation key: a restricted ECDSA P-256 signing key
// that never leaves the TPM, a primary of the endorsement hierarchy (so
// the same key every time for the same EK).
var akTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true,
		NoDA: true, Restricted: true, SignEncrypt: true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA, Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA,
			&tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
		CurveID: tpm2.TPMECCNistP256,
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)}, Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)}}),
}

var ecdsaSHA256 = tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgECDSA, Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256})}

type akKey struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	params attest.AKParameters
}

// createAK loads the AK and certifies its creation with itself, as
// go-attestation's AttestationParameters carry it.
func (s *Session) createAK() (akKey, error) {
	tr := s.tr()
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHEndorsement, InPublic: tpm2.New2B(akTemplate)}.Execute(tr)
	if err != nil {
		return akKey{}, fmt.Errorf("guest agent: create the AK: %w", err)
	}
	k := akKey{handle: rsp.ObjectHandle, name: rsp.Name}
	cc, err := tpm2.CertifyCreation{
		SignHandle:     tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:   tpm2.NamedHandle{Handle: k.handle, Name: k.name},
		CreationHash:   rsp.CreationHash,
		InScheme:       ecdsaSHA256,
		CreationTicket: rsp.CreationTicket,
	}.Execute(tr)
	if err != nil {
		s.flush(k.handle)
		return akKey{}, fmt.Errorf("guest agent: certify the AK's creation: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		s.flush(k.handle)
		return akKey{}, err
	}
	k.params = attest.AKParameters{Public: tpm2.Marshal(pub), CreateData: rsp.CreationData.Bytes(),
		CreateAttestation: cc.CertifyInfo.Bytes(), CreateSignature: tpm2.Marshal(cc.Signature)}
	return k, nil
}

// quote signs PCRs 0-15 of bank with nonce as the qualifying data.
func (s *Session) quote(k akKey, nonce []byte, bank tpm2.TPMAlgID) (quoted, sig []byte, err error) {
	rsp, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       ecdsaSHA256,
		PCRSelect: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
			{Hash: bank, PCRSelect: tpm2.PCClientCompatible.PCRs(quotedPCRs...)}}},
	}.Execute(s.tr())
	if err != nil {
		return nil, nil, fmt.Errorf("guest agent: quote PCRs 0-15: %w", err)
	}
	return rsp.Quoted.Bytes(), tpm2.Marshal(rsp.Signature), nil
}
