package hyperv

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// NodeReport is what observe.ps1 answers for one node, field for field (PascalCase, as the
// cmdlets name them). Lists tolerate PowerShell's habit of turning a one-element array into
// a bare object.
type NodeReport struct {
	ComputerName   string            `json:"ComputerName"`
	ClusterNodes   List[ClusterNode] `json:"ClusterNodes"` // null on a standalone host
	IgvmAgent      *AgentReport      `json:"IgvmAgent"`    // null: the service is not installed
	MigrationIPsec bool              `json:"MigrationIPsec"`
	// MigrationTransport is Get-VMHost VirtualMachineMigrationPerformanceOption (TCPIP,
	// Compression, SMB); SmbEncryption is Get-SmbServerConfiguration EncryptData, read for SMB.
	MigrationTransport string         `json:"MigrationTransport"`
	SmbEncryption      bool           `json:"SmbEncryption"`
	VMs                List[VMReport] `json:"VMs"`
}

// ClusterNode is one Get-ClusterNode row.
type ClusterNode struct {
	Name  string `json:"Name"`
	State string `json:"State"`
}

// AgentReport is the IGVmAgent service (Get-Service).
type AgentReport struct {
	Status string `json:"Status"`
}

// VMReport is one VM as observe.ps1 reports it.
type VMReport struct {
	Name                    string          `json:"Name"`
	VMId                    string          `json:"VMId"`
	Generation              int             `json:"Generation"`
	State                   FlexString      `json:"State"` // "Running"; or the VMState number from an older serialiser
	ProcessorCount          int             `json:"ProcessorCount"`
	MemoryStartup           int64           `json:"MemoryStartup"` // bytes
	IsClustered             bool            `json:"IsClustered"`
	ClusterGroup            *string         `json:"ClusterGroup"`
	OwnerNode               *string         `json:"OwnerNode"`
	GuestStateIsolationType *string         `json:"GuestStateIsolationType"`
	Firmware                *FirmwareReport `json:"Firmware"` // null for Generation 1
	Security                *SecurityReport `json:"Security"`
	KeyProtector            *string         `json:"KeyProtector"` // base64; null or "AAAABA==": none
	TpmInitialized          bool            `json:"TpmInitialized"`
	Notes                   string          `json:"Notes"`
	FileAccess              string          `json:"FileAccess"`
	// Error: the host could not report this VM (Name and VMId are then all there is).
	Error string `json:"Error,omitempty"`
}

// FirmwareReport is Get-VMFirmware.
type FirmwareReport struct {
	SecureBoot           FlexString `json:"SecureBoot"` // "On" | "Off" (or OnOffState 0 | 1)
	SecureBootTemplate   string     `json:"SecureBootTemplate"`
	SecureBootTemplateID string     `json:"SecureBootTemplateId"`
}

// SecurityReport is Get-VMSecurity.
type SecurityReport struct {
	TpmEnabled                        bool `json:"TpmEnabled"`
	KsdEnabled                        bool `json:"KsdEnabled"`
	Shielded                          bool `json:"Shielded"`
	EncryptStateAndVmMigrationTraffic bool `json:"EncryptStateAndVmMigrationTraffic"`
	VirtualizationBasedSecurityOptOut bool `json:"VirtualizationBasedSecurityOptOut"`
	BindToHostTpm                     bool `json:"BindToHostTpm"`
}

// List decodes a JSON array, a single object (PowerShell unrolled a one-element array) or null.
type List[T any] []T

func (l *List[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var v []T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = v
		return nil
	default:
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = []T{v}
		return nil
	}
}

// FlexString accepts a JSON string or number (enums serialise as numbers unless cast).
type FlexString string

func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return fmt.Errorf("want a string or number, got %.40s", b)
	}
	*f = FlexString(b)
	return nil
}

// ParseNodeReport decodes observe.ps1's result.
func ParseNodeReport(raw []byte) (*NodeReport, error) {
	var r NodeReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("observe answer: %w", err)
	}
	return &r, nil
}

// Secure Boot template GUIDs, for hosts that report only SecureBootTemplateId.
var templateByID = map[string]string{
	"1734c6e8-3154-4dda-ba5f-a874cc483422": "MicrosoftWindows",
	"272e7447-90a4-4563-a4b9-8e4ab00526ce": "MicrosoftUEFICertificateAuthority",
	"4292ae2b-ee2c-42b5-a969-dd8f8689f6f3": "OpenSourceShieldedVM",
}

// vmStates maps Hyper-V's VMState enum numbers to names.
var vmStates = map[string]drivers.PowerState{
	"2": drivers.PowerRunning, "3": drivers.PowerOff, "6": drivers.PowerSaved, "9": drivers.PowerPaused,
	"Running": drivers.PowerRunning, "Off": drivers.PowerOff, "Saved": drivers.PowerSaved, "Paused": drivers.PowerPaused,
}

// keyProtectorPlaceholder is what Get-VMKeyProtector returns for a VM without one.
var keyProtectorPlaceholder = []byte{0, 0, 0, 4}

// KeyProtector decodes a reported key protector: ok is false for none ($null, empty, or
// the AAAABA== placeholder).
func KeyProtector(b64 *string) (raw []byte, ok bool, err error) {
	if b64 == nil || *b64 == "" {
		return nil, false, nil
	}
	raw, err = base64.StdEncoding.DecodeString(*b64)
	if err != nil {
		return nil, false, fmt.Errorf("key protector is not base64: %w", err)
	}
	if len(raw) == 0 || bytes.Equal(raw, keyProtectorPlaceholder) {
		return nil, false, nil
	}
	return raw, true, nil
}

// ToVM converts one reported VM; node is the reporting node's name as the ClusterRef spells it,
// nodeName maps a host-reported node name to that spelling.
func (r *VMReport) ToVM(node string, nodeName func(string) string) (drivers.VM, error) {
	vm := drivers.VM{
		Name:            r.Name,
		ID:              strings.ToLower(r.VMId),
		Node:            node,
		Generation:      r.Generation,
		Power:           drivers.PowerOther,
		Processors:      r.ProcessorCount,
		MemoryMB:        r.MemoryStartup / (1 << 20),
		SecurityType:    drivers.SecurityStandard,
		FileAccess:      drivers.FileAccessUnknown,
		VTPMInitialized: r.TpmInitialized,
	}
	if r.Name == "" {
		return vm, fmt.Errorf("vm %q: observe answer has no Name", r.VMId)
	}
	if r.Error != "" {
		vm.ObserveError = r.Error
		return vm, nil
	}
	if p, ok := vmStates[string(r.State)]; ok {
		vm.Power = p
	}
	if r.OwnerNode != nil && *r.OwnerNode != "" {
		vm.Node = nodeName(*r.OwnerNode)
	}
	if r.GuestStateIsolationType != nil && strings.EqualFold(*r.GuestStateIsolationType, drivers.SecurityTrustedLaunch) {
		vm.SecurityType = drivers.SecurityTrustedLaunch
	}
	if f := r.Firmware; f != nil {
		vm.SecureBoot = string(f.SecureBoot) == "On" || string(f.SecureBoot) == "0" || string(f.SecureBoot) == "true"
		vm.SecureBootTemplate = f.SecureBootTemplate
		if vm.SecureBootTemplate == "" {
			vm.SecureBootTemplate = templateByID[strings.ToLower(f.SecureBootTemplateID)]
		}
	}
	if s := r.Security; s != nil {
		vm.TPMEnabled = s.TpmEnabled
		vm.EncryptState = s.EncryptStateAndVmMigrationTraffic
		vm.VBSOptOut = s.VirtualizationBasedSecurityOptOut
	}
	kp, ok, err := KeyProtector(r.KeyProtector)
	if err != nil {
		return vm, fmt.Errorf("vm/%s: %w", r.Name, err)
	}
	if ok {
		sum := sha256.Sum256(kp)
		vm.KeyProtector = true
		vm.KeyProtectorSHA256 = hex.EncodeToString(sum[:])
		// DESIGN §4: where the vTPM itself is out of reach, its identity is the key protector's.
		vm.VTPMIdentity = vm.KeyProtectorSHA256
	}
	switch r.FileAccess {
	case string(drivers.FileAccessHostAdminsOnly):
		vm.FileAccess = drivers.FileAccessHostAdminsOnly
	case string(drivers.FileAccessViolation):
		vm.FileAccess = drivers.FileAccessViolation
	}
	if a, _, ok := ParseNotes(r.Notes); ok {
		vm.Annotations = a
		vm.Attestation, _ = NotesAttestation(r.Notes)
	}
	return vm, nil
}

// agentState maps the reported IGVmAgent service to the drivers vocabulary.
func agentState(a *AgentReport) drivers.AgentState {
	switch {
	case a == nil:
		return drivers.AgentAbsent
	case strings.EqualFold(a.Status, "Running"):
		return drivers.AgentRunning
	default:
		return drivers.AgentStopped
	}
}

// nodeState maps Get-ClusterNode's State.
func nodeState(s string) drivers.NodeState {
	switch strings.ToLower(s) {
	case "up":
		return drivers.NodeUp
	case "paused":
		return drivers.NodePaused
	default:
		return drivers.NodeDown
	}
}
