package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

var sprintf = fmt.Sprintf

// EKFingerprint is the vTPM identity of an EK public area given as a
// TPM2B_PUBLIC (Evidence.EKPublic): the hex sha256 of the TPMT_PUBLIC without
// its 2-byte size prefix. That is byte for byte vtpm.FingerprintBytes of
// ReadPublic's OutPublic.Bytes(), so for the ECC P-256 EK it equals the
// `tpm-ek` identity the sim's guest agent and the drivers record.
func EKFingerprint(tpm2bPublic []byte) (string, error) {
	tpmt, err := TPMTPublic(tpm2bPublic)
	if err != nil {
		return "", err
	}
	return fingerprint(tpmt), nil
}

// AKFingerprint is the hex sha256 of an AK's TPMT_PUBLIC
// (AKParameters.Public), the form an AK is recorded in.
func AKFingerprint(tpmtPublic []byte) string { return fingerprint(tpmtPublic) }

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
