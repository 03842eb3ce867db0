package hyperv

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Payload is the JSON parameter object of every script; each script reads only its own
// fields (named in the script's header comment). It is the only channel for user values.
type Payload struct {
	VM            string         `json:"vm,omitempty"`
	Name          string         `json:"name,omitempty"` // create-vm
	Generation    int            `json:"generation,omitempty"`
	Folder        string         `json:"folder,omitempty"`
	VMRoot        string         `json:"vmRoot,omitempty"`
	SourceVHDX    string         `json:"sourceVhdx,omitempty"`
	Image         *drivers.Image `json:"image,omitempty"`
	SecurityType  string         `json:"securityType,omitempty"`
	Processors    int            `json:"processors,omitempty"`
	MemoryBytes   int64          `json:"memoryBytes,omitempty"`
	Clustered     bool           `json:"clustered,omitempty"`
	Enabled       *bool          `json:"enabled,omitempty"` // set-secure-boot
	Template      string         `json:"template,omitempty"`
	Reset         bool           `json:"reset,omitempty"`
	EncryptState  *bool          `json:"encryptState,omitempty"`
	VBSOptOut     *bool          `json:"vbsOptOut,omitempty"`
	TargetNode    string         `json:"targetNode,omitempty"`
	MigrationType string         `json:"migrationType,omitempty"`
	Expected      *string        `json:"expected,omitempty"` // set-annotations: Notes last seen
	Notes         *string        `json:"notes,omitempty"`    // create-vm, set-annotations
	// stop-vm: turn off a guest that does not shut down (apply --allow-force-stop)
	AllowForceStop bool `json:"allowForceStop,omitempty"`
	// enable-migration-ipsec: main-mode authentication (kerberos | certificate) and the
	// root CA of the machine certificates (certificate)
	Auth          string `json:"auth,omitempty"`
	CertAuthority string `json:"certAuthority,omitempty"`
	// attest: the guest account, its password (resolved from its reference for this one
	// request), the agent's path in the guest and its arguments (after "guest")
	GuestUser     string   `json:"guestUser,omitempty"`
	GuestPassword Secret   `json:"-"` // the line after the request (SecretLine), never the JSON
	AgentPath     string   `json:"agentPath,omitempty"`
	AgentArgs     []string `json:"agentArgs,omitempty"`
	// sendsSecret: the script reads a secret line after the request (attest.ps1), so one is
	// sent even when the secret is empty (the script would otherwise read the next request).
	sendsSecret bool
}

// SecretLine sends the guest password on the line after the request (psnode.SecretCarrier):
// attest.ps1 reads it itself, so no cmdlet's parameters (which a host's PowerShell module
// logging records) ever hold it.
func (p *Payload) SecretLine() (string, bool) {
	return string(p.GuestPassword), p.sendsSecret
}

// Secret is a secret value on its way to a node: it travels outside the parameters' JSON
// (Payload.SecretLine), and every way Go prints or logs it shows "[redacted]", so a log line
// or an error that formats a Payload never carries it.
type Secret string

// LogValue keeps the value out of slog, whatever the handler.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// LogValue logs a Payload as its redacted text, never as its JSON.
func (p Payload) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("%+v", p)) }

// String, GoString, Format and MarshalJSON hide the value.
func (Secret) String() string                 { return "[redacted]" }
func (Secret) GoString() string               { return `"[redacted]"` }
func (s Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(s.String())) }
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// GuestRun is what attest.ps1 answers: whether PowerShell Direct reached the guest (Ran)
// and, when it did, the agent's exit code and output; Problem says why it did not.
type GuestRun struct {
	Ran      bool   `json:"Ran"`
	Problem  string `json:"Problem"`
	ExitCode int    `json:"ExitCode"`
	Output   string `json:"Output"`
	Error    string `json:"Error"`
}

// OpResult is what op scripts answer.
type OpResult struct {
	Changed bool    `json:"Changed"`
	Message string  `json:"Message"`
	Applied *bool   `json:"Applied,omitempty"` // set-annotations: false when Notes changed since read
	Current *string `json:"Current,omitempty"` // set-annotations: the Notes now
}

// NodeStatus is what node-status.ps1 answers.
type NodeStatus struct {
	ComputerName string  `json:"ComputerName"`
	IgvmAgent    *string `json:"IgvmAgent"` // service status ("Running", "Stopped", ...); null: not installed
}

// FindResult is what find-vm.ps1 answers.
type FindResult struct {
	OwnerNode *string `json:"OwnerNode"`
	Local     bool    `json:"Local"`
}
