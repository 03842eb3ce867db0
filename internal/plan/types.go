package plan

import (
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// FormatVersion is the version of the plan JSON contract.
const FormatVersion = "1"

// Action is what happens to a resource; these strings are the JSON contract.
type Action string

// Actions.
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionReplace Action = "replace"
	ActionDelete  Action = "delete"
	ActionNoop    Action = "noop"
)

// Plan is the planner's whole answer. It is data: rendering lives in internal/view,
// execution in internal/apply.
type Plan struct {
	FormatVersion string    `json:"format_version"`
	Changes       []Change  `json:"changes"`  // sorted: cluster-level resources first, then by resource
	Findings      []Finding `json:"findings"` // sorted by severity, resource, rule
	Summary       Summary   `json:"summary"`
	// DesiredHash is the sha256 of the desired state the plan was made from.
	DesiredHash string `json:"desired_hash"`
	// Observed maps "cluster/C", "node/C/N", "vm/C/V" to a fingerprint of the observed
	// object the plan used; apply refuses the plan when any of them moved.
	Observed map[string]string `json:"observed"`
	// ObservedAt is the oldest observation the plan used (matters with --observed FILE).
	ObservedAt time.Time `json:"observed_at"`
	// Clusters are the cluster refs the plan needs, so that `apply FILE` can reach them.
	Clusters []drivers.ClusterRef `json:"clusters"`
	// Targets are the --target resources the plan was limited to (empty: all);
	// Stale fingerprints the same objects.
	Targets []string `json:"targets,omitempty"`
	// ObservedFile is the --observed snapshot the plan was made from ("" = observed live).
	ObservedFile string `json:"observed_file,omitempty"`
	// PlannedAt is when the command made the plan (set by the caller, not by Build,
	// so Build stays pure); views use it to say how old the observation was.
	PlannedAt time.Time `json:"planned_at,omitzero"`
}

// Change is one resource's action and its ordered steps.
type Change struct {
	Resource string `json:"resource"` // "vm/NAME" or "node/NAME" or "cluster/NAME"
	Cluster  string `json:"cluster"`
	Action   Action `json:"action"`
	Steps    []Step `json:"steps"`
	// Reasons explain the action as a whole (drift, replace cause); steps carry their own.
	Reasons []string `json:"reasons"`
	// Expect is the VM's state after the change (nil for cluster/node resources and deletes).
	Expect *Expect `json:"expect,omitempty"`
}

// Step is one op plus its ordering and guard flags. The embedded Op flattens into
// the step's JSON ("op", "cluster", "vm", "node", "params").
type Step struct {
	ID string `json:"id"`
	drivers.Op
	DependsOn        []string `json:"depends_on"`
	RequiresPowerOff bool     `json:"requires_power_off"`
	Destructive      bool     `json:"destructive"`
	Disruptive       bool     `json:"disruptive"`
	Blocked          string   `json:"blocked"` // "" or why the step cannot run
	Reason           string   `json:"reason"`
}

// Severity of a finding.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is something the user should know that is not (only) a change.
type Finding struct {
	Severity Severity `json:"severity"`
	Rule     string   `json:"rule"` // stable id, e.g. "vtpm-state-lost"
	Resource string   `json:"resource"`
	Cluster  string   `json:"cluster"`
	Message  string   `json:"message"`
}

// Summary counts changes by action.
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Replace int `json:"replace"`
	Delete  int `json:"delete"`
	Noop    int `json:"noop"`
	Blocked int `json:"blocked"`
}

// Expect is what a VM must look like once its change is applied; apply re-observes
// the VM and compares, so a setting that silently did not take fails the VM.
// Zero-value fields are not checked (Node "" = anywhere).
type Expect struct {
	Power              drivers.PowerState `json:"power,omitempty"`
	Generation         int                `json:"generation,omitempty"`
	SecurityType       string             `json:"security_type,omitempty"`
	SecureBoot         *bool              `json:"secure_boot,omitempty"`
	SecureBootTemplate string             `json:"secure_boot_template,omitempty"`
	TPMEnabled         *bool              `json:"tpm_enabled,omitempty"`
	EncryptState       *bool              `json:"encrypt_state,omitempty"`
	VBSOptOut          *bool              `json:"vbs_opt_out,omitempty"`
	Processors         int                `json:"processors,omitempty"`
	MemoryMB           int64              `json:"memory_mb,omitempty"`
	Node               string             `json:"node,omitempty"`
	// VTPMIdentity: the identity the VM must still have ("" = a create or an allowed
	// reset is planned, so a new identity is expected and gets recorded).
	VTPMIdentity string `json:"vtpm_identity,omitempty"`
}

// Options steer the planner.
type Options struct {
	Prune            bool     // plan deletes of managed VMs no longer declared
	Targets          []string // only these resources ("vm/NAME"); empty = all
	AllowDestructive bool     // recorded in the plan; guarded steps are still marked destructive
	// BlockDestructive marks every destructive step blocked instead of leaving
	// the refusal to apply (which refuses a whole plan that holds one), so the
	// other changes still run. The watch daemon uses it without --allow-destructive:
	// one VM that needs a vTPM reset must not stop every other VM's reconcile.
	BlockDestructive bool
	// AcceptedIdentityChanges: "CLUSTER/VM" keys whose vTPM identity changed through a
	// planned, completed create or reset (apply's journal says so after an interrupted
	// run): the new identity is recorded instead of reported as "vTPM state lost".
	AcceptedIdentityChanges map[string]bool
	// AcceptedIdentities: "CLUSTER/VM" keys whose planned identity change is known to
	// have produced one identity (apply's journal read it right after the step), mapped
	// to that identity: only it is accepted, and any other new identity is reported as
	// "vTPM state lost", even when AcceptedIdentityChanges holds the key too (the
	// journal's keys are in both). An operator's --accept-vtpm-identity accepts
	// whatever is there: its keys go in AcceptedIdentityChanges and not here.
	AcceptedIdentities map[string]string
}

// acceptsIdentity says whether a vTPM identity cur that differs from the
// recorded one is accepted for the VM key ("CLUSTER/VM").
func (o Options) acceptsIdentity(key, cur string) bool {
	if id, ok := o.AcceptedIdentities[key]; ok && id != "" {
		return id == cur
	}
	return o.AcceptedIdentityChanges[key]
}
