// Package guestagent is the guest side of attestation (DESIGN §8): the code
// `tlreconcile guest attest` runs inside a trusted-launch VM, and the sim runs
// against a simulated guest's vTPM. Over go-attestation it creates or reuses
// an attestation key (AK) under the TPM's storage root key, quotes PCRs 0-15
// with the verifier's nonce, and returns attest.Evidence: the ECC EK's public
// area, the AK, the quote, the PCR values and the TCG event log. It answers a
// credential-activation challenge with the same AK.
//
// It must not change the guest beyond its own AK file (and, on a TPM that has
// none, the standard storage root key go-attestation persists at 0x81000001),
// must not need a network, and must not verify anything: that is
// internal/attest's job on the host.
package guestagent
