package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// The findings of tlreconcile's own guest attestation (spec.attestation,
// DESIGN §8), judged on the last attestation recorded on the VM.
const (
	RuleAttestationUnavailable = "attestation-unavailable"
	RuleSecureBootNotEnforced  = "secure-boot-not-enforced"
	RuleBootIntegrityViolation = "boot-integrity-violation"
	RuleVBSNotRunning          = "vbs-not-running"
)

// attesting reports whether d asks for attestation.
func attesting(d *spec.VM) bool { return d.Attestation != nil && d.Attestation.Enabled }

// attest appends the attest step when spec.attestation asks for one now:
// after the change starts, creates or moves the VM (moves), when it was
// never attested, when it ran on another node at its last attestation (a
// move or failover by the cluster), or when the last one is older than the
// interval. A VM that will not run, or a platform without a channel into
// the guest, gets none (the latter a finding instead, attestFindings).
// node is where the VM will run after the change ("" when the platform
// places it): what the attestation records as its node.
func (b *builder) attest(cp *clusterPlan, k *chain, d *spec.VM, o *drivers.VM, moves bool, node string) {
	if !attesting(d) || wantPower(d) != drivers.PowerRunning || !cp.prof.Has(drivers.OpAttest) {
		return
	}
	why := attestDue(d, o, cp.obs.ObservedAt, moves)
	if why == "" {
		return
	}
	k.add(drivers.OpAttest, &drivers.Params{TargetNode: node}, Step{Reason: why + ": the guest agent quotes the vTPM with a fresh nonce; tlreconcile verifies the quote and replays the event log (non-disruptive)"})
	if ch := k.ch; ch.Action == ActionUpdate && len(ch.Reasons) == 0 {
		ch.Reasons = append(ch.Reasons, "attestation due: "+why) // nothing else changes: say why there is a change
	}
}

// attestDue says why an attestation is due now, "" when it is not.
func attestDue(d *spec.VM, o *drivers.VM, now time.Time, moves bool) string {
	var a *drivers.Attested
	if o != nil {
		a = o.Attestation
	}
	interval, err := time.ParseDuration(d.Attestation.Interval)
	if err != nil || interval <= 0 {
		interval = 24 * time.Hour
	}
	switch {
	case o == nil:
		return "attest the new VM once it runs"
	case moves:
		return "attest after this change starts or moves the VM"
	case a == nil:
		return "never attested"
	case a.Node != "" && a.Node != o.Node:
		return fmt.Sprintf("attested on node %s, now on node %s (moved or failed over since)", a.Node, o.Node)
	case now.Sub(a.Time) >= interval:
		return fmt.Sprintf("the last attestation (%s) is older than attestation.interval %s", a.Time.UTC().Format(time.RFC3339), interval)
	}
	return ""
}

// attestFindings judges the last attestation recorded on o against
// spec.attestation.require.
func (b *builder) attestFindings(cp *clusterPlan, d *spec.VM, o *drivers.VM) {
	if !attesting(d) {
		return
	}
	res, c := "vm/"+d.Name, cp.spec.Name
	if !cp.prof.Has(drivers.OpAttest) {
		b.finding(SeverityWarning, RuleAttestationUnavailable, res, c,
			fmt.Sprintf("%s: spec.attestation is declared but the %s platform has no channel into the guest for tlreconcile's agent yet; nothing else changes", res, cp.prof.Name))
		return
	}
	a := o.Attestation
	if a == nil {
		return
	}
	when := a.Time.UTC().Format(time.RFC3339)
	switch a.Result {
	case drivers.AttestUnavailable:
		b.finding(SeverityWarning, RuleAttestationUnavailable, res, c,
			fmt.Sprintf("%s: no attestation at %s (%s): %s; nothing else changes", res, when, a.Problem, unavailableFix(a.Problem)))
		return
	case drivers.AttestFailed:
		b.finding(SeverityError, RuleBootIntegrityViolation, res, c,
			fmt.Sprintf("%s: the attestation at %s did not verify (%s): %s", res, when, a.Problem, failedWhy(a.Problem, res)))
		return
	}
	if a.Baseline != "" && a.Boot != a.Baseline && !slices.Contains(d.Attestation.AcceptBoot, a.Boot) {
		b.finding(SeverityError, RuleBootIntegrityViolation, res, c,
			fmt.Sprintf("%s: the boot components at %s differ from the first verified boot (digest %s, was %s): an unexpected boot component ran; booted: %s. If the boot chain changed on purpose, accept it with spec.attestation.acceptBoot: [%s]", res, when, a.Boot, a.Baseline, strings.Join(a.Components, ", "), a.Boot))
	}
	b.requireFindings(res, c, when, d.Attestation.Require, a)
}

// requireFindings compares a verified attestation with what is required.
func (b *builder) requireFindings(res, c, when string, req spec.AttestationRequires, a *drivers.Attested) {
	deviates := func(want *bool, got *bool) bool { return want != nil && got != nil && *want != *got }
	if deviates(req.SecureBoot, a.SecureBoot) {
		b.finding(SeverityError, RuleSecureBootNotEnforced, res, c,
			fmt.Sprintf("%s: Secure Boot was not enforced at the boot attested at %s (the SecureBoot variable measured into PCR 7 is off); attestation.require.secureBoot wants it: switch Secure Boot on and restart the VM", res, when))
	}
	if req.VBS == "running" && a.VBSRunning != nil && !*a.VBSRunning {
		b.finding(SeverityError, RuleVBSNotRunning, res, c,
			fmt.Sprintf("%s: virtualization-based security was not running at the boot attested at %s; attestation.require.vbs wants it running", res, when))
	}
	for _, x := range []struct {
		name      string
		want, got *bool
	}{{"codeIntegrity", req.CodeIntegrity, a.CodeIntegrity}, {"testSigning", req.TestSigning, a.TestSigning}, {"debugging", req.Debugging, a.Debugging}} {
		if deviates(x.want, x.got) {
			b.finding(SeverityError, RuleBootIntegrityViolation, res, c,
				fmt.Sprintf("%s: %s was %t at the boot attested at %s; attestation.require.%s wants %t", res, x.name, *x.got, when, x.name, *x.want))
		}
	}
}

// failedWhy explains a failed attestation by its problem code.
func failedWhy(problem, res string) string {
	if problem == "ek-mismatch" {
		return "the guest answered for another TPM than the VM's vTPM (its EK is not the vTPM identity tlreconcile recorded), so nothing it reports can be trusted: either the vTPM was replaced (a failover or restore without its key: after checking, accept the new identity with `tlreconcile apply --accept-vtpm-identity " + res + "`, and the next attestation binds it) or the guest agent was replaced by one that answers from another TPM"
	}
	return "the boot cannot be trusted; check it with `tlreconcile attest verify` on a saved attestation"
}

// unavailableFix says what makes an attestation possible again, by the channel's problem
// code (internal/drivers/guestattest, and the hyperv driver's PowerShell Direct codes).
func unavailableFix(problem string) string {
	switch problem {
	case "no-guest-credential":
		return "give the Cluster's options.guestCredential (a guest account and a reference to its password) so PowerShell Direct can sign in to the guest"
	case "guest-credential-unreadable":
		return "the password options.guestCredential names cannot be read in the process that applies: set that variable or file there"
	case "powershell-direct-failed":
		return "PowerShell Direct could not run in the guest (a Windows 10 / Server 2016 or later guest that accepts options.guestCredential's account is needed): check the account and its password"
	case "vm-not-running":
		return "the VM was not running: start it and the next plan attests it"
	case "output-unreadable":
		return "the agent's answer arrived cut short or mangled (not JSON): the channel limits its output (an Arc Run Command's instance view keeps only part of a long output, and tlreconcile does not read a run command's outputBlobUri yet); verify this VM by hand meanwhile: in the guest run `tlreconcile guest attest --nonce HEX > evidence.json`, then `tlreconcile attest verify evidence.json --nonce HEX` here"
	case "channel-failed":
		return "the channel into the guest failed on the way (the node's PowerShell or the connection dropped): the next plan tries again; if it keeps failing, check the node"
	case "run-command-failed": // the permission: learn.microsoft.com/azure/azure-arc/servers/run-command
		return "ARM refused or failed the Arc machine's Run Command: check that the machine is Connected in Azure Arc and that tlreconcile's identity may create run commands (Microsoft.HybridCompute/machines/runCommands/write); the next plan tries again"
	case "agent-failed":
		return "tlreconcile's guest agent ran but failed (no TPM visible in the guest?): run `tlreconcile guest attest --nonce 00` in the guest to see why"
	}
	return "install tlreconcile's guest agent in the image (`tlreconcile guest attest` on its PATH; on classic Hyper-V at options.guestAgentPath)"
}
