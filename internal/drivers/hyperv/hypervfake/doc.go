// Package hypervfake is the one fake the hyperv driver is allowed: the edge this machine cannot
// reach, a Windows host running PowerShell with the Hyper-V and FailoverClusters modules. It
// speaks the host protocol (psnode) byte for byte (bootstrap line, framed base64 envelopes, stray
// output), identifies each request by its exact embedded script text, decodes the JSON
// parameters, carries the op out on a real sim driver (so Hyper-V's rules and real TPM-backed
// vTPM identities apply), and answers in the JSON shapes the real scripts emit, so the hyperv
// driver's own parsing runs unchanged. It counts process starts and round trips for
// benchmarks. It must never be linked into the tlreconcile binary's hyperv path.
package hypervfake
