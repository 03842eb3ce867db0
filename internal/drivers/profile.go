package drivers

import "slices"

// Protection names what protects a vTPM's state at rest on a platform
// (DESIGN §1): the planner never plans an op of the other kind.
type Protection string

// The two protections.
const (
	// ProtectionKeyProtector: a classic Hyper-V Gen 2 VM's local key
	// protector (Set-VMKeyProtector before Enable-VMTPM).
	ProtectionKeyProtector Protection = "key-protector"
	// ProtectionGuestStateKey: Azure Local's per-VM guest state protection
	// key in the MOC key vault; no key-protector or TPM op exists.
	ProtectionGuestStateKey Protection = "guest-state-key"
)

// Setting names a declared VM setting the planner compares.
type Setting string

// The settings of a VM a profile speaks about.
const (
	SettingSecurityType       Setting = "securityType"
	SettingSecureBoot         Setting = "secureBoot"
	SettingSecureBootTemplate Setting = "secureBoot.template"
	SettingVTPM               Setting = "vtpm"
	SettingEncryptState       Setting = "encryptStateAndMigrationTraffic"
	SettingVBS                Setting = "vbs"
	SettingProcessors         Setting = "processors"
	SettingMemory             Setting = "memoryMB"
)

// Profile is what a platform allows, so that the planner builds its step
// chains from facts instead of asking which driver it talks to (DESIGN §4).
// A driver returns the same Profile for every cluster it serves.
//
// The zero Profile is ClassicHyperV: observations recorded before profiles
// existed, and tests that build an Observed by hand, plan as they always did.
type Profile struct {
	Name       string     `json:"name"` // "classic-hyperv" | "azure-local", for messages
	Protection Protection `json:"protection"`
	// Ops are the operations the driver carries out; the planner plans no other.
	Ops []OpKind `json:"ops"`
	// CreateOnly are the settings fixed when a VM is created: a difference
	// is a replace (destructive, guarded), never an in-place step.
	CreateOnly []Setting `json:"create_only,omitempty"`
	// ReEnableOnly are create-only settings whose drift from on to off is
	// switched back on in place (Azure Local: Secure Boot found switched
	// off, from the owner node); turning them off is still a replace.
	ReEnableOnly []Setting `json:"re_enable_only,omitempty"`
	// OffFor are the settings whose in-place change needs the VM Off.
	OffFor []Setting `json:"off_for,omitempty"`
	// TemplateFixedOnceInitialised: the Secure Boot template cannot change
	// once the vTPM has been initialised, and a vTPM reset does not undo it
	// (Windows Server Hyper-V: the guest-state file stays written), so the
	// planner blocks such a change instead of planning a reset before it.
	TemplateFixedOnceInitialised bool `json:"template_fixed_once_initialised,omitempty"`
	// PlatformTemplate: the platform chooses the Secure Boot template (Azure
	// Local: by the image's OS); the YAML's template is neither sent nor
	// compared.
	PlatformTemplate bool `json:"platform_template,omitempty"`
	// PlatformPlaces: the platform picks a new VM's node (Azure Local
	// places an Arc VM itself); create-vm names a node only when the YAML
	// declares placement.node, and the node is recorded as observed.
	PlatformPlaces bool `json:"platform_places,omitempty"`
	// GracefulStop: stop-vm shuts the guest down and fails when it does not,
	// unless apply --allow-force-stop lets it turn the VM off (Windows
	// Server Hyper-V's Stop-VM; the plan says so on every stop-vm).
	GracefulStop bool `json:"graceful_stop,omitempty"`
	// CreateStarts: create-vm leaves the VM Running (ARM starts a new
	// Azure Local VM); otherwise it is created Off and started by start-vm.
	CreateStarts bool `json:"create_starts,omitempty"`
}

// ClassicHyperV is the profile of Windows Server Hyper-V (DESIGN §1.2):
// every setting changes in place from the host, the security type alone is
// fixed, and vTPMs are protected by key protectors. Profiles share their
// slices: read them, never modify them.
func ClassicHyperV() Profile { return classicHyperV }

// AzureLocal is the profile of Azure Local (Arc) VMs (DESIGN §1.1): the
// whole security profile is fixed at create (StackHCIVM 2024-01-01's
// VirtualMachineInstanceUpdateProperties has no securityProfile;
// azurerm_stack_hci_windows_virtual_machine marks it ForceNew), except that
// Secure Boot found off is switched back on from the owner node
// (virtual-machine-operations.md: enabling Secure Boot of a Gen 2 VM is
// supported with local tools); CPU and memory change through ARM in one
// set-hardware (PATCH hardwareProfile; "only via the Azure portal or the
// Azure CLI"); power through ARM actions; the vTPM is protected by the
// guest state protection key (trusted-launch-vm-overview.md). That a
// processor change needs the VM Off is Hyper-V's rule (no vCPU hot-add),
// which the simulated cluster enforces; it is not confirmed for Azure Local
// by its docs. The platform picks a new VM's node and its Secure Boot
// template (by the image's OS).
func AzureLocal() Profile { return azureLocal }

var (
	classicHyperV = Profile{
		Name:       "classic-hyperv",
		Protection: ProtectionKeyProtector,
		Ops: []OpKind{OpCreateVM, OpDeleteVM, OpStopVM, OpStartVM, OpSetSecureBoot, OpEnsureKeyProtector,
			OpEnableTPM, OpDisableTPM, OpSetSecurity, OpSetProcessor, OpSetMemory, OpMoveVM,
			OpSetAnnotations, OpStartIgvmAgent, OpRestrictFileAccess, OpEnableMigrationIPsec, OpAttest},
		CreateOnly: []Setting{SettingSecurityType},
		OffFor: []Setting{SettingSecureBoot, SettingSecureBootTemplate, SettingVTPM, SettingVBS,
			SettingProcessors, SettingMemory},
	}
	azureLocal = Profile{
		Name:       "azure-local",
		Protection: ProtectionGuestStateKey,
		Ops: []OpKind{OpCreateVM, OpDeleteVM, OpStopVM, OpStartVM, OpSetSecureBoot, OpSetHardware,
			OpMoveVM, OpSetAnnotations, OpStartIgvmAgent, OpRestrictFileAccess, OpEnableMigrationIPsec,
			OpBackupGuestStateKeys, OpAttest},
		CreateOnly:       []Setting{SettingSecurityType, SettingSecureBoot, SettingSecureBootTemplate, SettingVTPM},
		ReEnableOnly:     []Setting{SettingSecureBoot},
		PlatformTemplate: true,
		PlatformPlaces:   true,
		OffFor:           []Setting{SettingSecureBoot, SettingProcessors},
		CreateStarts:     true,
	}
)

// OrDefault is p, or ClassicHyperV when p is the zero Profile.
func (p Profile) OrDefault() Profile {
	if p.Name == "" && p.Protection == "" && len(p.Ops) == 0 {
		return ClassicHyperV()
	}
	return p
}

// Has reports whether the platform carries out op.
func (p Profile) Has(op OpKind) bool { return slices.Contains(p.Ops, op) }

// IsCreateOnly reports whether s is fixed at create.
func (p Profile) IsCreateOnly(s Setting) bool { return slices.Contains(p.CreateOnly, s) }

// CanReEnable reports whether s, found off, is switched on in place.
func (p Profile) CanReEnable(s Setting) bool { return slices.Contains(p.ReEnableOnly, s) }

// NeedsOff reports whether changing s in place needs the VM Off.
func (p Profile) NeedsOff(s Setting) bool { return slices.Contains(p.OffFor, s) }

// Profiler is implemented by drivers that know their platform's profile; a
// driver without it plans as ClassicHyperV.
type Profiler interface {
	Profile() Profile
}

// ProfileOf is d's profile (ClassicHyperV when d does not say).
func ProfileOf(d Driver) Profile {
	if p, ok := d.(Profiler); ok {
		return p.Profile().OrDefault()
	}
	return ClassicHyperV()
}
