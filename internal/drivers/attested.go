package drivers

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// The results of an attestation (Attested.Result).
const (
	// AttestVerified: the quote, the nonce and the event log all checked.
	AttestVerified = "verified"
	// AttestFailed: the attestation did not verify (Attested.Problem says why).
	AttestFailed = "failed"
	// AttestUnavailable: no attestation came back: the guest has no
	// tlreconcile agent, or its channel failed (Attested.Problem says which).
	AttestUnavailable = "unavailable"
)

// Attested is what the last attestation of a VM showed, as recorded on the
// VM by the attest op: small enough for an ARM tag. The planner turns it
// into findings against spec.attestation.require.
type Attested struct {
	Time   time.Time `json:"time"`
	Result string    `json:"result"` // verified | failed | unavailable
	// Problem is the first problem's code when it failed or was unavailable
	// (e.g. log-replay, nonce-mismatch, no-agent).
	Problem string `json:"problem,omitempty"`
	// Node the VM ran on when it was attested: a move since asks for a new one.
	Node string `json:"node,omitempty"`
	// EK is the vTPM's EK fingerprint the quote was made under.
	EK string `json:"ek,omitempty"`
	// What the verified boot showed; nil when unknown (failed, not Windows).
	SecureBoot    *bool `json:"secure_boot,omitempty"`
	CodeIntegrity *bool `json:"code_integrity,omitempty"`
	VBSRunning    *bool `json:"vbs_running,omitempty"`
	TestSigning   *bool `json:"test_signing,omitempty"`
	Debugging     *bool `json:"debugging,omitempty"`
	// Boot is BootDigest of the boot components of this attestation;
	// Baseline is the one of the first verified attestation. They differ
	// when a boot component appeared or went (boot-integrity-violation).
	Boot     string `json:"boot,omitempty"`
	Baseline string `json:"baseline,omitempty"`
	// Components are the boot components of this attestation, as far as
	// they fit the record (for messages).
	Components []string `json:"components,omitempty"`
}

// BootDigest is a short, order-free digest of a set of boot components (the
// EFI boot applications a verified event log shows, by path): a Windows
// update that replaces bootmgfw.efi keeps it, a new component changes it.
func BootDigest(components []string) string {
	c := slices.Clone(components)
	slices.Sort(c)
	c = slices.Compact(c)
	sum := sha256.Sum256([]byte(strings.Join(c, "\n")))
	return hex.EncodeToString(sum[:6])
}
