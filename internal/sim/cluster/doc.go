// Package cluster is the simulated Azure Local cluster behind the simulated
// ARM: nodes with their host agents (IGVmAgent, the MOC node agent wssdagent,
// one MOC cloud agent) and live-migration transport, the Arc resource bridge
// VM every cluster runs as infrastructure, the Hyper-V VMs that ARM places
// (GuestStateIsolationType TrustedLaunch, a VM ID, state files with an owner
// and ACL), the MOC key vault AzureStackTvmKeyVault holding each VM's AES-256
// guest state protection key, and each VM's vTPM: a real TPM 2.0 (the
// reference simulator of internal/vtpm) whose state is sealed with that key
// in the VM's guest state file. It owns that state under <stateDir>/cluster,
// written with atomic renames in an order that a kill at any point leaves
// readable (the VM record is the commit point), under one file lock shared by
// every process. Starting a VM boots its guest: a real firmware event log
// (internal/sim/guestboot, chosen by the image's OS and Secure Boot) and any
// planted boot component are extended into its vTPM, and Run Commands run
// inside the guest through a pluggable GuestAgent that reaches that vTPM and
// log. It implements arm.Host, reports what the owner node would show
// (Observe) and injects the platform's incidents. It must not import any
// driver implementation, the planner, apply or view, must never let key
// material out (only a fingerprint), and must never let anyone change the Arc
// resource bridge VM.
package cluster
