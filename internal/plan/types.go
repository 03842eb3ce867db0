package plan

import (
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// FormatVersion is the version of the plan JSON contract.
const FormatVersion = "2"

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
	// Inputs are the desired state and options the plan was built from:
	// `apply FILE` plans again from them and refuses the file when that does
	// not give the same changes.
	Inputs Inputs `json:"inputs"`
}

// Inputs are what Build was given, recorded in the plan.
type Inputs struct {
	// Desired is the canonical desired state (sorted, defaults applied).
	Desired *spec.Desired `json:"desired"`
	// Positions are where each cluster, VM and catalog image was declared,
	// in the order of Desired's lists: spec keeps positions out of its JSON
	// (so that hashes do not change when a file moves), and the plan's
	// reasons quote them.
	Positions Positions `json:"positions"`
	Options   Options   `json:"options"`
}

// Positions are the declaration positions of a desired state's documents.
type Positions struct {
	Clusters []spec.Pos `json:"clusters"`
	VMs      []spec.Pos `json:"vms"`
	Catalog  []spec.Pos `json:"catalog"`
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

// Kind is the kind of the change's resource, read from its address.
func (c *Change) Kind() drivers.ResourceKind {
	r, err := drivers.ParseResource(c.Cluster, c.Resource)
	if err != nil {
		return ""
	}
	return r.Kind
}

// Address is the change's typed resource address.
func (c *Change) Address() drivers.Resource {
	r, _ := drivers.ParseResource(c.Cluster, c.Resource)
	return r
}

// Blocker is the block that keeps the change from running (nil: it can
// run): the first step blocked for a cause of its own, else the first
// blocked step. Apply runs none of a blocked change's steps, because half of
// a VM's change is worse than none of it.
func (c *Change) Blocker() (*Step, *Blocked) {
	var first *Step
	for i := range c.Steps {
		s := &c.Steps[i]
		if s.Blocked.Root() {
			return s, s.Blocked
		}
		if s.Blocked != nil && first == nil {
			first = s
		}
	}
	if first == nil {
		return nil, nil
	}
	return first, first.Blocked
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
	// ChangesIdentity: after this step the VM has a new vTPM identity on
	// purpose (a create, a vTPM enable or disable, a vTPM reset). Apply
	// journals it before it runs and records the identity read after it.
	ChangesIdentity bool `json:"changes_identity"`
	// RecordsIdentity: this set-annotations records the VM's new vTPM
	// identity, which apply reads from the VM just before it runs.
	RecordsIdentity bool `json:"records_identity"`
	// OnFailure says what apply does with a VM this plan stopped when this
	// step fails; OnNotRun, when the change stops before this step runs (an
	// interrupt, a failed cluster step). Both are nil outside the plan's
	// stop/start window. They differ for a key-protector or TPM step, whose
	// failure may leave the vTPM half-changed while not running it leaves
	// nothing to fear.
	OnFailure *OnFailure `json:"on_failure"`
	OnNotRun  *OnFailure `json:"on_not_run"`
	// Blocked is why the step cannot run (nil: it can). A blocked step
	// blocks its whole change: apply runs none of it.
	Blocked *Blocked `json:"blocked"`
	Reason  string   `json:"reason"`
}

// FailureAction is what apply does with a VM the plan stopped when its change
// ends early; these strings are the JSON contract.
type FailureAction string

// Failure actions.
const (
	// FailureRestart starts the VM again: nothing the change did makes a
	// boot unsafe.
	FailureRestart FailureAction = "restart"
	// FailureLeaveOff keeps the VM Off: a boot now would initialise its vTPM
	// in a state nobody asked for; Reason says why and what to do.
	FailureLeaveOff FailureAction = "leave-off"
)

// OnFailure is a step's failure decision, made by the planner.
type OnFailure struct {
	Action FailureAction `json:"action"`
	Reason string        `json:"reason,omitempty"`
}

// BlockCode says why a step is blocked; a fixed set, part of the JSON contract.
type BlockCode string

// Block codes.
const (
	// BlockProtected: the VM is protected (protect: true) and the step is destructive.
	BlockProtected BlockCode = "protected"
	// BlockDestructive: this run may not destroy anything (watch without
	// --allow-destructive) and the step is destructive.
	BlockDestructive BlockCode = "destructive-not-allowed"
	// BlockNodeNotReady: the node the step needs is absent, not Up, or cannot
	// unlock a trusted-launch vTPM (IgvmAgent).
	BlockNodeNotReady BlockCode = "node-not-ready"
	// BlockPowerTransitional: the VM is starting, stopping, saving or failed.
	BlockPowerTransitional BlockCode = "power-transitional"
	// BlockWaitsForBlocked: the step depends on the blocked step By.
	BlockWaitsForBlocked BlockCode = "waits-for-blocked"
	// BlockWouldLeaveOff: a stop-vm whose change cannot finish because the
	// later step By is blocked; stopping would leave the VM Off.
	BlockWouldLeaveOff BlockCode = "would-leave-off"
	// BlockPlatformForbids: the platform cannot make this change to an
	// existing VM at all (classic Hyper-V: the Secure Boot template of a VM
	// whose vTPM has been initialised); the reason says what to do instead.
	BlockPlatformForbids BlockCode = "platform-forbids"
)

// BlockCodes lists every BlockCode.
var BlockCodes = []BlockCode{BlockProtected, BlockDestructive, BlockNodeNotReady, BlockPowerTransitional, BlockWaitsForBlocked, BlockWouldLeaveOff, BlockPlatformForbids}

// Blocked is why a step cannot run. By names the step that causes it for the
// codes that follow from another step (waits-for-blocked, would-leave-off).
type Blocked struct {
	Code   BlockCode `json:"code"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason"`
}

// Root reports whether the block is a cause of its own, not one that follows
// from another blocked step.
func (b *Blocked) Root() bool {
	return b != nil && b.Code != BlockWaitsForBlocked && b.Code != BlockWouldLeaveOff
}

// block is a Blocked of code with reason, or nil when reason is "".
func block(code BlockCode, reason string) *Blocked {
	if reason == "" {
		return nil
	}
	return &Blocked{Code: code, Reason: reason}
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
	Prune            bool     `json:"prune"`             // plan deletes of managed VMs no longer declared
	Targets          []string `json:"targets,omitempty"` // only these resources ("vm/NAME"); empty = all
	AllowDestructive bool     `json:"allow_destructive"` // recorded in the plan; guarded steps are still marked destructive
	// BlockDestructive marks every destructive step blocked instead of leaving
	// the refusal to apply (which refuses a whole plan that holds one), so the
	// other changes still run. The watch daemon uses it without --allow-destructive:
	// one VM that needs a vTPM reset must not stop every other VM's reconcile.
	BlockDestructive bool `json:"block_destructive"`
	// Accept says which changed vTPM identities are recorded instead of
	// reported as vtpm-state-lost.
	Accept Acceptances `json:"accept"`
	// Resumed are the VM keys (drivers.Resource.Key) an interrupted apply's
	// journal holds steps of: their differences are that run's, and the
	// reasons say so instead of blaming a change outside tlreconcile.
	Resumed map[string]bool `json:"resumed,omitempty"`
}
