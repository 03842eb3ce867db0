// Package guestattest is the half of the attest op (DESIGN §8) that does
// not depend on the platform: it has tlreconcile's agent in the guest
// (`tlreconcile guest attest`, internal/guestagent) quote the vTPM with a
// fresh nonce through a driver's channel into the guest (a Runner: the Arc
// machine's Run Command on Azure Local, PowerShell Direct on classic
// Hyper-V), binds the AK to the EK by credential activation on first contact
// (a second command), verifies the evidence with internal/attest and reduces
// the outcome to a Record: the drivers.Attested the planner judges plus the
// bound AK's fingerprint, with a compact text form (Format, Parse) small
// enough for an ARM tag or a line of a VM's Notes.
//
// A guest problem (no agent, a channel that failed, evidence that does not
// verify) is the Record's outcome, never an error: an attestation must not
// block other work.
package guestattest
