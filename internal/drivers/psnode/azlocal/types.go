package azlocal

// Parameters: the JSON object each script decodes from its one argument. They are the only
// channel for values: a VM name, a path or a node name is a JSON string, never script text.

// ObserveParams are observe-node's parameters.
type ObserveParams struct {
	// Infrastructure names the VMs that are Azure Local infrastructure (the Arc resource
	// bridge, as ARM's appliance resource names it); they are reported with Infrastructure
	// set and every op refuses them.
	Infrastructure []string `json:"infrastructure,omitempty"`
	// BackupRoot, when set, is the folder whose key backups are reported.
	BackupRoot string `json:"backupRoot,omitempty"`
	// VMID, when set, narrows the VMs reported to the one with this VM ID (when it is on the
	// node), and NoVMs to none: what an op asks before it acts on one VM (its owner's State,
	// the node's agents), without the per-VM work (firmware, state file ACLs) for every VM
	// of the node. A narrowed report says nothing about other VMs (the key vault may list
	// only the narrowed VM's key).
	VMID  string `json:"vmId,omitempty"`
	NoVMs bool   `json:"noVMs,omitempty"`
}

// VMParams name the VM an op acts on: its VM ID (what the op finds it by) and the name it
// had when observed (a rename since then is refused, so an op never acts on a VM it did not
// see).
type VMParams struct {
	VMID           string   `json:"vmId"`
	VM             string   `json:"vm"`
	Infrastructure []string `json:"infrastructure,omitempty"`
}

// MoveParams are move-vm's parameters: a live migration inside the cluster.
type MoveParams struct {
	VMParams
	TargetNode string `json:"targetNode"`
}

// Phases of enable-migration-encryption: every node gets PhaseRequest before any node gets
// PhaseRequire, so two nodes can always migrate between them.
const (
	PhaseRequest = "request"
	PhaseRequire = "require"
)

// EncryptionParams are enable-migration-encryption's parameters.
type EncryptionParams struct {
	// Transport is the live-migration transport observe-node reported; the script refuses
	// to act when the node's transport changed since.
	Transport string `json:"transport"`
	Phase     string `json:"phase"`
	// CertificateAuthority is the root CA whose machine certificates authenticate IPsec main
	// mode (AD-less clusters have no Kerberos); empty: the default authentication.
	CertificateAuthority string `json:"certificateAuthority,omitempty"`
}

// BackupParams are backup-guest-state-keys' parameters: paths on the node.
type BackupParams struct {
	WrappingKeyPath string `json:"wrappingKeyPath"` // the RSA public key (PEM) keys are wrapped under
	BackupRoot      string `json:"backupRoot"`      // where the timestamped folder goes
}

// Answers: what the scripts return, field names as PowerShell writes them.

// NodeReport is observe-node's answer.
type NodeReport struct {
	ComputerName  string          `json:"ComputerName"`
	VMs           []VMReport      `json:"VMs"`
	KeyVault      KeyVaultReport  `json:"KeyVault"`
	Agents        []AgentReport   `json:"Agents"`
	LiveMigration MigrationReport `json:"LiveMigration"`
	Cluster       *ClusterReport  `json:"Cluster"` // nil: the node is not in a failover cluster
	Backups       []BackupReport  `json:"Backups"`
}

// VMReport is one VM as Get-VM on its owner node shows it.
type VMReport struct {
	Name       string `json:"Name"`
	VMID       string `json:"VMId"`
	State      string `json:"State"` // Running, Off, Saved, ...
	Generation int    `json:"Generation"`
	// GuestStateIsolationType is "TrustedLaunch" for a trusted-launch VM; nil on a host
	// whose Hyper-V has no such property.
	GuestStateIsolationType *string `json:"GuestStateIsolationType"`
	SecureBoot              *bool   `json:"SecureBoot"` // nil: Generation 1
	IsClustered             bool    `json:"IsClustered"`
	Infrastructure          bool    `json:"Infrastructure"`
	// Managed is nil: a node cannot tell reliably whether ARM created a VM; the driver
	// learns it from the VM instances' vmId in ARM.
	Managed            *bool         `json:"Managed"`
	GuestStateDataRoot *string       `json:"GuestStateDataRoot"`
	GuestStateFile     *string       `json:"GuestStateFile"`
	StateFile          *FileSecurity `json:"StateFile"` // nil: no guest state file found
}

// TrustedLaunch reports whether Get-VM calls the VM a trusted-launch VM.
func (v *VMReport) TrustedLaunch() bool {
	return v.GuestStateIsolationType != nil && *v.GuestStateIsolationType == IsolationTrustedLaunch
}

// IsolationTrustedLaunch is GuestStateIsolationType of a trusted-launch VM.
const IsolationTrustedLaunch = "TrustedLaunch"

// FileSecurity is the owner and access rules of one file.
type FileSecurity struct {
	Path   string       `json:"Path"`
	Owner  Principal    `json:"Owner"`
	Access []AccessRule `json:"Access"`
}

// Principal is an account as a SID and, when it translates, its name.
type Principal struct {
	Name string `json:"Name"`
	Sid  string `json:"Sid"`
}

// AccessRule is one access control entry.
type AccessRule struct {
	Name      string `json:"Name"`
	Sid       string `json:"Sid"`
	Type      string `json:"Type"` // Allow or Deny
	Rights    string `json:"Rights"`
	Inherited bool   `json:"Inherited"`
}

// KeyVaultReport is the MOC key vault AzureStackTvmKeyVault, group AzureStackHostAttestation,
// as Get-MocKey lists it: names, never material.
type KeyVaultReport struct {
	Available bool        `json:"Available"` // false: Get-MocKey failed (Error says why)
	Error     string      `json:"Error"`
	Keys      []KeyReport `json:"Keys"`
}

// KeyReport is one key of the vault; a VM's guest state protection key is named by its VM ID.
type KeyReport struct {
	Name string `json:"Name"`
	Type string `json:"Type"` // AES or RSA
	Size int    `json:"Size"`
}

// Host agents every trusted-launch VM needs, and the statuses observe-node reports.
const (
	AgentIGVm              = "IGVmAgent"
	AgentNode              = "wssdagent"
	AgentCloud             = "wssdcloudagent"
	AgentRunning           = "Running"
	AgentStopped           = "Stopped"
	AgentNotInstalled      = "NotInstalled"
	TransportTCPIP         = "TCPIP"
	TransportCompression   = "Compression"
	TransportSMB           = "SMB"
	IPsecNone              = "none"
	IPsecRequest           = PhaseRequest
	IPsecRequire           = PhaseRequire
	CategoryInfrastructure = "infrastructure"
)

// AgentReport is one host agent's service status.
type AgentReport struct {
	Name   string `json:"Name"`
	Status string `json:"Status"`
}

// MigrationReport is the node's live migration: the transport (Get-VMHost
// VirtualMachineMigrationPerformanceOption) and what protects it.
type MigrationReport struct {
	Enabled   bool   `json:"Enabled"`
	Transport string `json:"Transport"` // TCPIP, Compression or SMB
	// IPsec is how IPsec protects TCP 6600 with ESP encryption: none, request or require.
	IPsec string `json:"IPsec"`
	// SMBEncryption is Azure Local's SMB cluster encryption; nil: not observable.
	SMBEncryption *bool `json:"SMBEncryption"`
}

// Encrypted reports whether the node's live-migration traffic is encrypted on its transport:
// IPsec required for TCPIP and Compression, SMB cluster encryption for SMB.
func (m *MigrationReport) Encrypted() bool {
	switch m.Transport {
	case TransportTCPIP, TransportCompression:
		return m.IPsec == IPsecRequire
	case TransportSMB:
		return m.SMBEncryption != nil && *m.SMBEncryption
	}
	return false
}

// ClusterReport is the failover cluster the node is in.
type ClusterReport struct {
	Name  string        `json:"Name"`
	Nodes []ClusterNode `json:"Nodes"`
}

// ClusterNode is one node as Get-ClusterNode shows it.
type ClusterNode struct {
	Name  string `json:"Name"`
	State string `json:"State"` // Up, Down, Paused
}

// BackupReport is one complete key backup under the backup root.
type BackupReport struct {
	Folder string   `json:"Folder"` // yyyyMMddHHmmss
	Keys   []string `json:"Keys"`   // the key names it holds, sorted
}

// OpResult is what an op script answers.
type OpResult struct {
	Changed bool   `json:"Changed"`
	Message string `json:"Message"`
}

// BackupResult is what backup-guest-state-keys answers.
type BackupResult struct {
	OpResult
	Folder string   `json:"Folder"`
	Keys   []string `json:"Keys"`
}
