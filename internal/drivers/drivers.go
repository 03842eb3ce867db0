package drivers

import (
	"context"
	"time"
)

// Driver observes and changes one kind of platform. Implementations report
// facts and carry out single typed operations; they never decide what to do.
// Rare abilities are optional interfaces found by type assertion.
type Driver interface {
	// Observe reads the whole cluster: one batch per node, not per VM.
	// The sim driver creates the cluster from ref on first use.
	Observe(ctx context.Context, ref ClusterRef) (*Observed, error)
	// Apply carries out one operation on the cluster ref names (ref.Name ==
	// op.Cluster). Everything the driver needs travels in the call: it must
	// work on a fresh instance that has observed nothing, because a saved
	// plan is applied by another process than the one that observed, and
	// the contract suite applies before observing (drivertest
	// "FreshInstanceApplies"). Errors wrap the sentinels of errors.go.
	Apply(ctx context.Context, ref ClusterRef, op Op) (Result, error)
}

// Closer is implemented by drivers that hold processes or connections.
type Closer interface {
	Close() error
}

// ClusterRef is what a driver needs to find a cluster: the Cluster document's facts.
type ClusterRef struct {
	Name    string         `json:"name"`
	Driver  string         `json:"driver"`
	Nodes   []string       `json:"nodes"`
	Options map[string]any `json:"options,omitempty"`
	// KeyBackupRoot is where the cluster's guest state key backups are
	// (its keyBackup.destination), so Observe can report the newest one.
	KeyBackupRoot string `json:"key_backup_root,omitempty"`
}

// PowerState is a VM's Hyper-V state as Get-VM reports it.
type PowerState string

// Power states. Only Running and Off are desired states; the rest are observed.
const (
	PowerRunning PowerState = "Running"
	PowerOff     PowerState = "Off"
	PowerSaved   PowerState = "Saved"
	PowerPaused  PowerState = "Paused"
	PowerOther   PowerState = "Other"
)

// NodeState is a cluster node's membership state (Get-ClusterNode).
type NodeState string

// Node states.
const (
	NodeUp     NodeState = "Up"
	NodeDown   NodeState = "Down"
	NodePaused NodeState = "Paused"
)

// AgentState is the IGVmAgent service state on a node.
type AgentState string

// IgvmAgent states: absent means the service is not installed at all.
const (
	AgentRunning AgentState = "running"
	AgentStopped AgentState = "stopped"
	AgentAbsent  AgentState = "absent"
)

// FileAccess is the verdict on the ACLs of a VM's configuration and state files.
type FileAccess string

// File-access verdicts.
const (
	FileAccessHostAdminsOnly FileAccess = "hostAdminsOnly"
	FileAccessViolation      FileAccess = "violation"
	FileAccessUnknown        FileAccess = "unknown"
)

// Security types as observed (GuestStateIsolationType).
const (
	SecurityTrustedLaunch = "TrustedLaunch"
	SecurityStandard      = "Standard"
)

// Observed is one observation of one cluster.
type Observed struct {
	Cluster    string    `json:"cluster"`
	Driver     string    `json:"driver"`
	ObservedAt time.Time `json:"observed_at"`
	// Profile is what the platform allows: the driver's, set by the session
	// that observed (not serialised: it is a fact of the driver, not an
	// observation); the zero value plans as ClassicHyperV.
	Profile Profile `json:"-"`
	Nodes   []Node  `json:"nodes"` // sorted by name
	// KeyBackup is the newest complete guest state key backup under
	// ClusterRef.KeyBackupRoot; nil when none (or none asked for).
	KeyBackup *KeyBackup `json:"key_backup,omitempty"`
	VMs       []VM       `json:"vms"` // sorted by name
}

// Node is one cluster node.
type Node struct {
	Name           string     `json:"name"`
	State          NodeState  `json:"state"`
	IgvmAgent      AgentState `json:"igvm_agent"`
	MigrationIPsec bool       `json:"migration_ipsec"` // live-migration traffic covered by IPsec rules
	// NodeAgent is Azure Local's MOC node agent (wssdagent); "" on a
	// platform without one. "VM start, stop or delete may fail" without it,
	// so a node whose node agent does not run is blocked for
	// trusted-launch VMs, as for IgvmAgent.
	NodeAgent AgentState `json:"node_agent,omitempty"`
	// MigrationTransport is how the node sends live-migration traffic
	// (Get-VMHost VirtualMachineMigrationPerformanceOption: TCPIP,
	// Compression or SMB; "" when the driver does not know). IPsec cannot
	// protect SMB Direct, so over SMB only MigrationSMBEncrypted counts.
	MigrationTransport    string `json:"migration_transport,omitempty"`
	MigrationSMBEncrypted bool   `json:"migration_smb_encrypted,omitempty"`
}

// MigrationTransportSMB is the Node.MigrationTransport of SMB live migration.
const MigrationTransportSMB = "SMB"

// VM is one observed virtual machine.
type VM struct {
	Name               string       `json:"name"`
	ID                 string       `json:"id"`
	Node               string       `json:"node"` // owner node
	Generation         int          `json:"generation"`
	Power              PowerState   `json:"power"`
	Processors         int          `json:"processors"`
	MemoryMB           int64        `json:"memory_mb"`
	SecurityType       string       `json:"security_type"` // TrustedLaunch | Standard
	SecureBoot         bool         `json:"secure_boot"`
	SecureBootTemplate string       `json:"secure_boot_template"` // MicrosoftWindows | MicrosoftUEFICertificateAuthority | OpenSourceShieldedVM
	TPMEnabled         bool         `json:"tpm_enabled"`
	KeyProtector       bool         `json:"key_protector"`        // a real key protector (not $null, not AAAABA==)
	KeyProtectorSHA256 string       `json:"key_protector_sha256"` // hex; "" when none
	EncryptState       bool         `json:"encrypt_state"`        // EncryptStateAndVmMigrationTraffic
	VBSOptOut          bool         `json:"vbs_opt_out"`          // VirtualizationBasedSecurityOptOut
	FileAccess         FileAccess   `json:"file_access"`
	VTPMInitialized    bool         `json:"vtpm_initialized"` // the vTPM has been started at least once since its last reset
	VTPMIdentity       string       `json:"vtpm_identity"`    // hex sha256 of the EK public area (hyperv: of the key protector); "" when none
	Annotations        *Annotations `json:"annotations"`      // nil: not managed by tlreconcile
	// Infrastructure: the platform's own VM (Azure Local's Arc resource
	// bridge). Nothing may ever change it, whatever its tags or annotations
	// say: the planner plans no step against it in any command.
	Infrastructure bool `json:"infrastructure,omitempty"`
	// Attestation is the outcome of the last attest op, as recorded on the
	// VM; nil when it was never attested.
	Attestation *Attested `json:"attestation,omitempty"`
	// ObserveError: the host listed the VM but could not report it (one
	// cmdlet failed for it); the other fields are not to be trusted, and the
	// planner plans nothing against it, reporting an error finding instead.
	ObserveError string `json:"observe_error,omitempty"`
}

// ManagedBy is the marker value of Annotations.ManagedBy.
const ManagedBy = "tlreconcile"

// Annotations is the small record tlreconcile keeps on every VM it manages
// (Hyper-V: a delimited block in the VM's Notes; sim: its state file).
type Annotations struct {
	ManagedBy    string `json:"managed_by"`
	SpecHash     string `json:"spec_hash"`
	Protect      bool   `json:"protect"`
	VTPMIdentity string `json:"vtpm_identity"` // last verified
	Node         string `json:"node"`          // node the identity was last verified on
}

// OpKind is a closed set: these strings are also the op names in plan JSON.
type OpKind string

// The operations of DESIGN §4.
const (
	OpCreateVM             OpKind = "create-vm"
	OpDeleteVM             OpKind = "delete-vm"
	OpStopVM               OpKind = "stop-vm"
	OpStartVM              OpKind = "start-vm"
	OpSetSecureBoot        OpKind = "set-secure-boot"
	OpEnsureKeyProtector   OpKind = "ensure-key-protector"
	OpEnableTPM            OpKind = "enable-tpm"
	OpDisableTPM           OpKind = "disable-tpm"
	OpSetSecurity          OpKind = "set-security"
	OpSetProcessor         OpKind = "set-processor"
	OpSetMemory            OpKind = "set-memory"
	OpMoveVM               OpKind = "move-vm"
	OpSetAnnotations       OpKind = "set-annotations"
	OpStartIgvmAgent       OpKind = "start-igvm-agent"
	OpRestrictFileAccess   OpKind = "restrict-file-access"
	OpEnableMigrationIPsec OpKind = "enable-migration-ipsec"
	// OpSetHardware changes processors and memory in one call (Azure Local:
	// PATCH hardwareProfile through ARM).
	OpSetHardware OpKind = "set-hardware"
	// OpBackupGuestStateKeys runs Backup-TVMKeys on a node (Azure Local).
	OpBackupGuestStateKeys OpKind = "backup-guest-state-keys"
	// OpAttest has tlreconcile's agent in the guest attest the VM (a quote
	// over the vTPM's PCRs with a fresh nonce and the TCG event log), verifies
	// it and records the outcome on the VM (VM.Attestation). Non-disruptive.
	OpAttest OpKind = "attest"
)

// AllOps lists every OpKind in DESIGN order.
var AllOps = []OpKind{
	OpCreateVM, OpDeleteVM, OpStopVM, OpStartVM, OpSetSecureBoot, OpEnsureKeyProtector,
	OpEnableTPM, OpDisableTPM, OpSetSecurity, OpSetProcessor, OpSetMemory, OpMoveVM,
	OpSetAnnotations, OpStartIgvmAgent, OpRestrictFileAccess, OpEnableMigrationIPsec, OpSetHardware,
	OpBackupGuestStateKeys, OpAttest,
}

// Valid reports whether k is one of the closed set.
func (k OpKind) Valid() bool {
	for _, o := range AllOps {
		if o == k {
			return true
		}
	}
	return false
}

// Op is one typed operation. Cluster and exactly one of VM or Node name the
// target; Params carries the op's arguments. Op is serialised into plan files.
type Op struct {
	Kind    OpKind  `json:"op"`
	Cluster string  `json:"cluster"`
	VM      string  `json:"vm,omitempty"`
	Node    string  `json:"node,omitempty"`
	Params  *Params `json:"params,omitempty"`
}

// Destroys reports whether op destroys a vTPM or a VM whatever a plan says
// about it: a delete, a vTPM disable or a key-protector reset. It is the one
// definition apply's guard holds a plan's destructive flags against, so a plan
// edited by hand cannot drop the flag and slip past --allow-destructive.
func (o Op) Destroys() bool {
	switch o.Kind {
	case OpDeleteVM, OpDisableTPM:
		return true
	case OpEnsureKeyProtector:
		return o.Params != nil && o.Params.Reset
	}
	return false
}

// Target is the resource op acts on: vm/NAME, node/NAME or cluster/NAME.
func (o Op) Target() Resource {
	switch {
	case o.VM != "":
		return Resource{Kind: KindVM, Cluster: o.Cluster, Name: o.VM}
	case o.Node != "":
		return Resource{Kind: KindNode, Cluster: o.Cluster, Name: o.Node}
	}
	return Resource{Kind: KindCluster, Cluster: o.Cluster, Name: o.Cluster}
}

// Params are the arguments of an op; each op reads only its own fields.
type Params struct {
	// create-vm
	Generation   int    `json:"generation,omitempty"`
	SecurityType string `json:"security_type,omitempty"`
	Image        *Image `json:"image,omitempty"`
	// create-vm, set-processor, set-hardware
	Processors int `json:"processors,omitempty"`
	// create-vm, set-memory, set-hardware
	MemoryMB int64 `json:"memory_mb,omitempty"`
	// set-secure-boot; create-vm on a platform whose security profile is
	// fixed at create (SecureBoot and VTPM then travel with the create)
	SecureBoot         *bool  `json:"secure_boot,omitempty"`
	VTPM               *bool  `json:"vtpm,omitempty"`
	SecureBootTemplate string `json:"secure_boot_template,omitempty"`
	// stop-vm: AllowForceStop lets a guest that does not shut down in time be
	// turned off (power pulled); apply sets it only with --allow-force-stop.
	AllowForceStop bool `json:"allow_force_stop,omitempty"`
	// ensure-key-protector: Reset replaces an existing protector (destructive).
	Reset bool `json:"reset,omitempty"`
	// set-security
	EncryptState *bool `json:"encrypt_state,omitempty"`
	VBSOptOut    *bool `json:"vbs_opt_out,omitempty"`
	// create-vm, move-vm: target node; move-vm: Live | Quick | Shutdown
	TargetNode    string `json:"target_node,omitempty"`
	MigrationType string `json:"migration_type,omitempty"`
	// backup-guest-state-keys: the wrapping key and destination (node paths)
	KeyBackup *KeyBackupTarget `json:"key_backup,omitempty"`
	// create-vm on Azure Local: the network, storage path and OS profile
	// (the admin password only as a reference, resolved when the op runs)
	Network     *Network   `json:"network,omitempty"`
	StoragePath string     `json:"storage_path,omitempty"`
	OSProfile   *OSProfile `json:"os_profile,omitempty"`
	// set-annotations; create-vm too, so a VM is managed from birth and an
	// interrupted apply never leaves an "unmanaged" VM of its own making
	Annotations *Annotations `json:"annotations,omitempty"`
}

// KeyBackup is one complete guest state key backup: when it was made and
// the key names (VM IDs) it holds.
type KeyBackup struct {
	Folder string    `json:"folder"`
	Time   time.Time `json:"time"`
	Keys   []string  `json:"keys"`
}

// KeyBackupTarget is where backup-guest-state-keys writes.
type KeyBackupTarget struct {
	WrappingKey string `json:"wrapping_key"`
	Destination string `json:"destination"`
}

// Network is where a new VM's network interface goes.
type Network struct {
	LogicalNetwork string `json:"logical_network"`
	IPAddress      string `json:"ip_address,omitempty"`
}

// OSProfile is what a new VM's guest is created with.
type OSProfile struct {
	ComputerName  string     `json:"computer_name,omitempty"`
	AdminUsername string     `json:"admin_username,omitempty"`
	AdminPassword *SecretRef `json:"admin_password,omitempty"`
}

// SecretRef names where a secret is (an environment variable or a file of
// the process that applies); plans, journals and views carry only this.
type SecretRef struct {
	FromEnv  string `json:"from_env,omitempty"`
	FromFile string `json:"from_file,omitempty"`
}

// Image names a Marketplace image for create-vm.
type Image struct {
	Publisher string `json:"publisher"`
	Offer     string `json:"offer"`
	Sku       string `json:"sku"`
	Version   string `json:"version"`
}

// Result is what an op did.
type Result struct {
	Changed bool   `json:"changed"` // false: it was already so
	Message string `json:"message,omitempty"`
}

// Config is what a registered driver factory receives.
type Config struct {
	StateDir string // the state dir (default .tlreconcile); the sim cluster lives below it
}

// Bool returns a pointer to b, for Params fields.
func Bool(b bool) *bool { return &b }

// VMObserver is an optional ability: observe one VM without a whole-cluster batch
// (apply verifies each VM after its steps). Returns ErrNotFound when absent.
type VMObserver interface {
	ObserveVM(ctx context.Context, ref ClusterRef, name string) (*VM, error)
}
