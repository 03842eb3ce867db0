// Package guestboot is how a simulated trusted-launch guest boots: it holds
// real TCG firmware event logs (unmodified copies of go-attestation's test
// data, Apache 2.0, LICENSE beside them in eventlogs/), chooses one by the
// guest's OS and Secure Boot state, and turns it, plus any extra boot
// component an incident planted, into the log bytes the guest reads and the
// measurements its vTPM's PCRs get. Logs are parsed with go-attestation's
// parser, the one the verifier replays with, so boot and replay cannot
// disagree on what an event means. It owns no TPM (Boot.Extend measures into
// the one a caller hands it) and no files: it must not
// import the cluster, any driver, the planner or apply.
//
// The choice, and why (no measurement is invented; where no real log fits, a
// substitute is named in Choice.Note and recorded with the boot):
//
//	OS       Secure Boot  log                                        banks
//	Windows  on           windows_gcp_shielded_vm.json (Log.Raw)     SHA-1
//	Windows  off          ubuntu_2104_shielded_vm_no_secure_boot     SHA-1, SHA-256, SHA-384 (substitute)
//	Linux    on           sb_cert_eventlog (Ubuntu shim, Canonical)  SHA-1, SHA-256, SHA-384
//	Linux    off          ubuntu_2104_shielded_vm_no_secure_boot     SHA-1, SHA-256, SHA-384
//
// The only real Windows log is a GCP Shielded VM's, in the legacy SHA-1
// format Windows handed out; its SHA-1 PCRs, recorded on that VM, are in the
// same file, so a boot can be checked against a real machine. No real log
// has SHA-256 digests for a Windows boot, so a Windows guest's SHA-256 bank
// keeps its reset values (digests are not derived from one bank for
// another). No real Windows log with Secure Boot off exists; that guest boots
// the Secure-Boot-off log of the same firmware (GCE virtual firmware), so an
// attestation still sees Secure Boot off. sb_cert_eventlog is an excerpt
// (PCRs 0, 4, 5, 7).
package guestboot
