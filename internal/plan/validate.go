package plan

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Validate checks that p is a plan this release can execute as written: known
// actions, ops, block codes and failure actions; one change per resource;
// every step acting on its own change's resource with the arguments its op
// needs; decision flags that agree with the ops (a destroying op is marked
// destructive; only identity-changing ops say they change the identity); and
// dependencies that can be ordered. Read runs it on every plan file, and
// apply on every plan before a step runs.
func Validate(p *Plan) error {
	if p == nil {
		return errors.New("no plan")
	}
	clusters := map[string]bool{}
	for _, c := range p.Clusters {
		if c.Name == "" {
			return errors.New("a cluster ref has no name")
		}
		clusters[c.Name] = true
	}
	seen := map[string]bool{}
	for i := range p.Changes {
		c := &p.Changes[i]
		if err := validateChange(c, clusters); err != nil {
			return err
		}
		key := c.Address().Key()
		if seen[key] {
			return fmt.Errorf("%s: two changes for one resource of cluster %s; a plan holds one change per resource", c.Resource, c.Cluster)
		}
		seen[key] = true
	}
	for _, f := range p.Findings {
		switch f.Severity {
		case SeverityError, SeverityWarning, SeverityInfo:
		default:
			return fmt.Errorf("%s: finding %s: unknown severity %q", f.Resource, f.Rule, f.Severity)
		}
	}
	_, err := Order(p)
	return err
}

func validateChange(c *Change, clusters map[string]bool) error {
	switch c.Action {
	case ActionCreate, ActionUpdate, ActionReplace, ActionDelete, ActionNoop:
	default:
		return fmt.Errorf("%s: unknown action %q", c.Resource, c.Action)
	}
	addr, err := drivers.ParseResource(c.Cluster, c.Resource)
	if err != nil {
		return err
	}
	if !clusters[c.Cluster] {
		return fmt.Errorf("%s: cluster %q is not among the plan's clusters", c.Resource, c.Cluster)
	}
	for i := range c.Steps {
		if err := validateStep(addr, &c.Steps[i]); err != nil {
			return fmt.Errorf("%s: step %s: %w", c.Resource, c.Steps[i].ID, err)
		}
	}
	return nil
}

func validateStep(addr drivers.Resource, s *Step) error {
	switch {
	case s.ID == "":
		return errors.New("the step has no id")
	case !s.Kind.Valid():
		return fmt.Errorf("unknown op %q", s.Kind)
	case (s.VM == "") == (s.Node == ""):
		return errors.New("must name exactly one of vm and node")
	case s.Op.Target() != addr:
		// Every check of a change (protect, power restore, verify) is about
		// its own resource: a step must act on that one.
		t := s.Op.Target()
		return fmt.Errorf("acts on %s of cluster %q, not on %s of cluster %q", t, t.Cluster, addr, addr.Cluster)
	case s.Op.Destroys() && !s.Destructive:
		return fmt.Errorf("%s destroys the vTPM or the VM but is not marked destructive", s.Kind)
	case s.ChangesIdentity && !changesIdentity(s.Op):
		return fmt.Errorf("%s cannot change a vTPM identity but is marked changes_identity", s.Kind)
	case s.RecordsIdentity && s.Kind != drivers.OpSetAnnotations:
		return fmt.Errorf("only set-annotations records a vTPM identity, not %s", s.Kind)
	}
	if b := s.Blocked; b != nil && (!slices.Contains(BlockCodes, b.Code) || b.Reason == "") {
		return fmt.Errorf("blocked with unknown code %q or no reason", b.Code)
	}
	for _, f := range []*OnFailure{s.OnFailure, s.OnNotRun} {
		if f != nil && f.Action != FailureRestart && f.Action != FailureLeaveOff {
			return fmt.Errorf("unknown on_failure action %q", f.Action)
		}
	}
	return checkParams(s.Op)
}

// checkParams checks that an op carries the arguments it cannot run without,
// so apply never meets a half-written step.
func checkParams(op drivers.Op) error {
	if check, ok := paramChecks[op.Kind]; ok {
		return check(op)
	}
	return nil
}

// paramChecks are the arguments each op cannot run without.
var paramChecks = map[drivers.OpKind]func(drivers.Op) error{
	drivers.OpStartIgvmAgent: needNode,
	drivers.OpBackupGuestStateKeys: func(op drivers.Op) error {
		if err := needNode(op); err != nil {
			return err
		}
		if op.Params == nil || op.Params.KeyBackup == nil || op.Params.KeyBackup.WrappingKey == "" || op.Params.KeyBackup.Destination == "" {
			return errors.New("backup-guest-state-keys has no wrapping key or destination")
		}
		return nil
	},
	drivers.OpEnableMigrationIPsec: needNode,
	drivers.OpCreateVM: needParams(func(p *drivers.Params) bool { return p.Annotations != nil },
		"create-vm has no params or no annotations"),
	drivers.OpSetAnnotations: needParams(func(p *drivers.Params) bool { return p.Annotations != nil },
		"set-annotations has no annotations"),
	drivers.OpMoveVM: needParams(func(p *drivers.Params) bool { return p.TargetNode != "" },
		"move-vm has no target node"),
	drivers.OpSetSecureBoot: needParams(func(p *drivers.Params) bool { return p.SecureBoot != nil },
		"set-secure-boot has no secure_boot"),
	drivers.OpSetSecurity: needParams(func(p *drivers.Params) bool { return p.EncryptState != nil || p.VBSOptOut != nil },
		"set-security has nothing to set"),
	drivers.OpSetProcessor: needParams(func(p *drivers.Params) bool { return p.Processors > 0 },
		"set-processor has no processor count"),
	drivers.OpSetMemory: needParams(func(p *drivers.Params) bool { return p.MemoryMB > 0 },
		"set-memory has no memory size"),
	drivers.OpSetHardware: needParams(func(p *drivers.Params) bool { return p.Processors > 0 && p.MemoryMB > 0 },
		"set-hardware needs both a processor count and a memory size"),
}

func needNode(op drivers.Op) error {
	if op.Node == "" {
		return errors.New("names no node")
	}
	return nil
}

// needParams checks op.Params with ok, failing with msg.
func needParams(ok func(*drivers.Params) bool, msg string) func(drivers.Op) error {
	return func(op drivers.Op) error {
		if op.Params == nil || !ok(op.Params) {
			return errors.New(msg)
		}
		return nil
	}
}
