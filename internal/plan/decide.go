package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Decide writes onto a change's steps the decisions apply acts on, so that
// apply executes them instead of deciding again: which steps change or record
// the vTPM identity, and what happens to a VM this plan stopped when the
// change ends at a step. Build runs it on every change; it is exported for
// tools and tests that assemble a change by hand.
func Decide(ch *Change) {
	if ch.Kind() != drivers.KindVM {
		return
	}
	newID := ch.Expect != nil && ch.Expect.VTPMIdentity == ""
	for i := range ch.Steps {
		s := &ch.Steps[i]
		s.ChangesIdentity = newID && changesIdentity(s.Op)
		s.RecordsIdentity = newID && s.Kind == drivers.OpSetAnnotations &&
			s.Params != nil && s.Params.Annotations != nil && s.Params.Annotations.VTPMIdentity == ""
	}
	decideOnFailure(ch)
}

// changesIdentity: after op the VM has a new vTPM identity.
func changesIdentity(op drivers.Op) bool {
	switch op.Kind {
	case drivers.OpCreateVM, drivers.OpEnableTPM, drivers.OpDisableTPM:
		return true
	case drivers.OpEnsureKeyProtector:
		return op.Params != nil && op.Params.Reset
	}
	return false
}

// touchesVTPM: a failure half-way through op can leave the vTPM or its key
// protector in a state nobody asked for.
func touchesVTPM(k drivers.OpKind) bool {
	switch k {
	case drivers.OpEnsureKeyProtector, drivers.OpEnableTPM, drivers.OpDisableTPM:
		return true
	}
	return false
}

// Reasons of the leave-off decisions.
const (
	leaveOffVTPM = "starting the VM could initialise its vTPM in an unintended state; fix the cause and re-run apply, or start it by hand once its key protector and TPM settings are right"
	// leaveOffTemplate: the first boot initialises the vTPM and locks the
	// Secure Boot template it boots with (DESIGN §1.2).
	leaveOffTemplate = "its vTPM was reset and the Secure Boot template was not set after it; starting the VM now would initialise the new vTPM with the old template and lock it in: fix the cause and re-run apply, which sets the template and starts it"
)

// decideOnFailure marks every step between the plan's stop-vm and its
// start-vm (inclusive) with what apply does when the change ends there: start
// the VM again, unless the vTPM was reset and the set-secure-boot that
// follows the reset has not run, or (when the step itself failed) the step is
// a key-protector or TPM step.
func decideOnFailure(ch *Change) {
	window, reset := false, false
	for i := range ch.Steps {
		s := &ch.Steps[i]
		switch {
		case s.Kind == drivers.OpStopVM:
			window = true
			continue
		case !window:
			continue
		}
		s.OnNotRun = &OnFailure{Action: FailureRestart}
		if reset {
			s.OnNotRun = &OnFailure{Action: FailureLeaveOff, Reason: leaveOffTemplate}
		}
		s.OnFailure = s.OnNotRun
		if touchesVTPM(s.Kind) {
			s.OnFailure = &OnFailure{Action: FailureLeaveOff, Reason: fmt.Sprintf("%s failed and %s", s.Kind, leaveOffVTPM)}
		}
		if s.Kind == drivers.OpEnsureKeyProtector && s.Params != nil && s.Params.Reset {
			reset = resetThenTemplate(ch.Steps[i+1:])
		}
		if s.Kind == drivers.OpSetSecureBoot {
			reset = false
		}
		if s.Kind == drivers.OpStartVM {
			window = false
		}
	}
}

// resetThenTemplate: a set-secure-boot follows in rest, so until it runs the
// VM must stay Off.
func resetThenTemplate(rest []Step) bool {
	for _, s := range rest {
		if s.Kind == drivers.OpSetSecureBoot {
			return true
		}
	}
	return false
}
