package cluster

import (
	"errors"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// The names of the key vault and key group that hold guest state protection
// keys on Azure Local (trusted-launch-vm-overview.md; TvmBackupUtils.psm1).
const (
	KeyVaultName = "AzureStackTvmKeyVault"
	KeyGroup     = "AzureStackHostAttestation"
)

// Agent names a host component a trusted-launch VM needs (DESIGN §1.1).
type Agent string

// The host agents of an Azure Local node.
const (
	AgentIGVm      Agent = "IGVmAgent"
	AgentNode      Agent = "wssdagent"      // the MOC node agent, on every node
	AgentCloud     Agent = "wssdcloudagent" // the MOC cloud agent, on one node
	isolationTL          = "TrustedLaunch"
	isolationNone        = "Disabled"
	defaultCluster       = "sim-cluster"
)

// AgentState is whether an agent runs on a node.
type AgentState string

// Agent states; NotInstalled is the cloud agent on every node but one.
const (
	AgentRunning      AgentState = "Running"
	AgentStopped      AgentState = "Stopped"
	AgentNotInstalled AgentState = "NotInstalled"
)

// NodeStatus is a node's cluster state.
type NodeStatus string

// Node states.
const (
	NodeUp   NodeStatus = "Up"
	NodeDown NodeStatus = "Down"
)

// Power is a Hyper-V VM state.
type Power string

// VM power states.
const (
	PowerRunning Power = "Running"
	PowerOff     Power = "Off"
)

// LMTransport is a node's live-migration transport as Network ATC sets it.
type LMTransport string

// Live-migration transports (network-atc.md); TCP is the default.
const (
	LMTCP         LMTransport = "TCP"
	LMCompression LMTransport = "Compression"
	LMSMB         LMTransport = "SMB"
)

// Principals on a guest state file's ACL.
const (
	PrincipalAdministrators = `BUILTIN\Administrators`
	PrincipalSystem         = `NT AUTHORITY\SYSTEM`
	PrincipalAllVMs         = "S-1-5-83-0" // NT VIRTUAL MACHINE\Virtual Machines
)

// VMPrincipal is the virtual account of one VM, the only VM that may read its
// state files.
func VMPrincipal(vmID string) string { return `NT VIRTUAL MACHINE\` + vmID }

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: no VM with that ID, or no cluster or node with that name.
	ErrNotFound = arm.ErrNoVM
	// ErrInfrastructure: the call would change the Arc resource bridge VM.
	ErrInfrastructure = errors.New("the VM is Azure Local infrastructure (the Arc resource bridge): nothing may change it")
	// ErrUnmanaged: the VM was created with local tools; ARM does not manage it.
	ErrUnmanaged = errors.New("the VM was created with local tools (unmanaged): Azure does not manage it and it cannot be converted")
	// ErrBlocked: the node or cluster cannot host the operation now (an agent
	// does not run, the node is down).
	ErrBlocked = errors.New("blocked")
	// ErrInvalidState: the VM is not in a state that allows the call.
	ErrInvalidState = errors.New("invalid state")
)

// Spec declares one cluster; Open creates it when its directory is absent.
type Spec struct {
	Name           string   // directory name and cluster name
	CustomLocation string   // the ARM custom location that selects it
	Nodes          []string // node names, at least one; the first runs the cloud agent
}

// Options configure Open. The zero value is one cluster "sim-cluster" at
// arm.DefaultCustomLocation with nodes node1 and node2.
type Options struct {
	Clusters []Spec
	// TPM is the process's reference TPM (one per process, see
	// vtpm.Reference); nil makes Open create one that Close closes.
	TPM TPM
	// GuestAgent runs Run Commands inside guests; nil is DefaultAgent.
	GuestAgent GuestAgent
}

// ClusterState is what an observer of one cluster sees.
type ClusterState struct {
	Name           string
	CustomLocation string
	Nodes          []NodeState
	VMs            []VMState // sorted by name, the resource bridge VM included
}

// NodeState is one node as its owner sees it.
type NodeState struct {
	Name   string
	Status NodeStatus
	Agents map[Agent]AgentState
	// LiveMigration is the node's live-migration transport; Encrypted says
	// whether its traffic is protected (IPsec ESP for TCP and Compression,
	// SMB encryption for SMB). Off by default, as on the platform.
	LiveMigration LMTransport
	Encrypted     bool
}

// VMState is one Hyper-V VM as Get-VM on its owner node and the MOC key list
// show it, plus the identity of its vTPM as its guest would read it.
type VMState struct {
	Name                    string
	VMID                    string
	Cluster                 string
	Node                    string
	Power                   Power
	GuestStateIsolationType string // "TrustedLaunch" or "Disabled"
	Managed                 bool   // created through ARM
	Infrastructure          bool   // the Arc resource bridge VM
	Processors              int
	MemoryMB                int64
	GuestStateDataRoot      string
	GuestStateFile          string
	Owner                   string
	ACL                     []string
	// ACLRestricted: owner and ACL allow only Administrators, SYSTEM and the
	// VM's own virtual account.
	ACLRestricted  bool
	KeyPresent     bool   // the vault holds a key named by VMID
	KeyID          string // the key's opaque handle: vault/group/name
	KeyFingerprint string // sha256 of the key material, hex; "" when absent
	SecureBoot     bool   // the VM's firmware has Secure Boot on
	// StateMissing: the record names a guest state file that is not there.
	StateMissing bool
	// Resets counts the vTPM resets the platform made (a start without the key).
	Resets int
	// Identity is the hex sha256 of the vTPM's ECC EK public area; "" when the
	// state cannot be unlocked (no key, no vTPM) or was not asked for.
	Identity string
}

// ObserveOptions select the expensive parts of Observe.
type ObserveOptions struct {
	Identities bool // read each vTPM's identity (cached)
	// VMID, when set, reports only that VM (when it is in the cluster), and NoVMs none:
	// the other VMs' records are not read.
	VMID  string
	NoVMs bool
}
