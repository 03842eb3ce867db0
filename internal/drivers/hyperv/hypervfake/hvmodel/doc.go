// Package sim is the embedded default driver: a simulated Azure Local cluster
// kept on local disk under <state-dir>/sim/<cluster>/, created on first
// observe from the Cluster document (every node Up, IgvmAgent running,
// live-migration IPsec off). It enforces Hyper-V's rules with the errors a
// real host gives (VM not Off, Generation 1, no key protector, template after
// vTPM init, node without a running IgvmAgent), and every VM's vTPM is a real
// TPM 2.0: the in-process reference TPM seeded from state sealed in the VM's
// guest-state file, or one swtpm process per vTPM (option vtpmBackend: swtpm).
// Each VM lives in its own files with its own lock, written atomically, so
// any number of processes may apply to one cluster at once. Test controls
// (drift, failover, agent state, faults, latency) are methods on Driver,
// reached through `tlreconcile sim`. Files on disk can be damaged: a VM
// record that cannot be trusted fails observe naming the file (a VM left out
// would look absent); damaged guest state reads as an unknown vTPM identity,
// and stop-vm refuses such a VM, which could not start again; an
// identity-cache entry that does not verify is recomputed. It reports facts and carries out single
// ops; it must not decide what to do, and must not import plan or apply.
package hvmodel
