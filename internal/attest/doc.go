// Package attest owns the attestation of a trusted-launch guest: the wire
// format the guest agent prints (Evidence, Parse) and the verifier that reads
// it (Verify): it binds the attestation key to the vTPM's endorsement key,
// checks the quote and its nonce, replays the TCG event log against the quoted
// PCRs and extracts how the VM booted (Secure Boot, boot manager and
// applications, the Windows boot state and VBS from the SIPA events, the Linux
// kernel command line). Evaluate turns a Result into policy findings. It never
// talks to a TPM itself (the agent does), never imports a driver, the planner
// or cgo, and builds on every GOOS, so the Windows agent can import Evidence.
package attest
