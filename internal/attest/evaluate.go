package attest

import "fmt"

// Requirements are a VM's declared attestation policy
// (spec.attestation.require). A nil field asks for nothing.
type Requirements struct {
	// SecureBoot true requires Secure Boot enabled.
	SecureBoot *bool `json:"secureBoot,omitempty" yaml:"secureBoot,omitempty"`
	// CodeIntegrity true requires Windows code integrity on.
	CodeIntegrity *bool `json:"codeIntegrity,omitempty" yaml:"codeIntegrity,omitempty"`
	// VBS "running" requires virtualisation-based security running.
	VBS string `json:"vbs,omitempty" yaml:"vbs,omitempty"`
	// TestSigning false forbids test signing; Debugging false forbids boot,
	// kernel and hypervisor debugging.
	TestSigning *bool `json:"testSigning,omitempty" yaml:"testSigning,omitempty"`
	Debugging   *bool `json:"debugging,omitempty" yaml:"debugging,omitempty"`
}

// Finding codes: the planner's contract.
const (
	FindingSecureBoot    = "secure-boot-not-enforced"
	FindingBootIntegrity = "boot-integrity-violation"
	FindingVBSNotRunning = "vbs-not-running"
	VBSRunning           = "running"
)

// Finding is one deviation from the Requirements.
type Finding struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Evaluate compares a Result with the Requirements. An attestation that did
// not verify is one boot-integrity-violation per problem, and nothing else is
// judged: its boot facts cannot be trusted.
func Evaluate(r Result, req Requirements) []Finding {
	out := []Finding{}
	if !r.OK() || !r.LogReplayOK {
		for _, p := range r.Problems {
			out = append(out, Finding{FindingBootIntegrity, fmt.Sprintf("the attestation did not verify (%s): %s", p.Code, p.Reason)})
		}
		if len(out) == 0 {
			out = append(out, Finding{FindingBootIntegrity, "the event log was not replayed against the PCRs"})
		}
		return out
	}
	if req.SecureBoot != nil && *req.SecureBoot && !r.SecureBoot.Enabled {
		out = append(out, Finding{FindingSecureBoot, "Secure Boot is off (the SecureBoot variable measured into PCR 7 is 0); the policy requires it"})
	}
	return append(out, evaluateWindows(r.Windows, req)...)
}

func evaluateWindows(w *Windows, req Requirements) []Finding {
	var out []Finding
	need := func(cond bool, code, reason string) {
		if cond {
			out = append(out, Finding{code, reason})
		}
	}
	if w == nil {
		need(req.CodeIntegrity != nil && *req.CodeIntegrity, FindingBootIntegrity, "code integrity is required but the log has no Windows boot events")
		need(req.VBS == VBSRunning, FindingVBSNotRunning, "VBS is required but the log has no Windows boot events")
		return out
	}
	need(req.CodeIntegrity != nil && *req.CodeIntegrity && w.CodeIntegrity != "on", FindingBootIntegrity, "code integrity is "+w.CodeIntegrity+"; the policy requires it on")
	need(req.TestSigning != nil && !*req.TestSigning && w.TestSigning, FindingBootIntegrity, "test signing was enabled during boot; the policy forbids it")
	debug := w.BootDebugging || w.KernelDebugging || w.VBS.HypervisorDebug
	need(req.Debugging != nil && !*req.Debugging && debug, FindingBootIntegrity, fmt.Sprintf("debugging was enabled during boot (boot %v, kernel %v, hypervisor %v); the policy forbids it", w.BootDebugging, w.KernelDebugging, w.VBS.HypervisorDebug))
	need(req.VBS == VBSRunning && !w.VBS.Running, FindingVBSNotRunning, fmt.Sprintf("VBS is not running (hypervisor launched %v, secure kernel launched %v); the policy requires it", w.VBS.HypervisorLaunched, w.VBS.VSMLaunched))
	return out
}
