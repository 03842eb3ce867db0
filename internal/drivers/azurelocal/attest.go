package azurelocal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The attest op (DESIGN §8): tlreconcile's agent in the guest, reached by
// the Arc machine's Run Command, quotes the vTPM's PCRs with a fresh nonce
// and returns the TCG event log; the driver verifies it with internal/attest
// and records the outcome as tags on the machine (attesttags.go). On first
// contact (no AK recorded, or another vTPM) the AK is bound to the EK by
// credential activation, a second run command; afterwards the recorded AK's
// fingerprint is what a quote must be signed by.

// The guest agent's command lines (cmd/tlreconcile guest): parameters are
// hex or base64, so they never need quoting.
const (
	attestScript   = "tlreconcile guest attest --format json --nonce "
	activateScript = "tlreconcile guest activate --credential "
	attestRunName  = "tlreconcile-attest"
)

func (c *conn) attest(ctx context.Context, op drivers.Op) (drivers.Result, error) {
	m, _, err := c.managedVM(ctx, op.VM)
	if err != nil {
		return drivers.Result{}, err
	}
	prev, prevAK := attestationOf(m.Tags)
	rec := c.attestGuest(ctx, op.VM, prevAK)
	// The node is the one the plan expects the VM on (Params.TargetNode),
	// not looked up here: that would be an observe-node of every node, per
	// VM. A move between plan and apply makes the next plan attest again.
	rec.Time = time.Now().UTC()
	if op.Params != nil {
		rec.Node = op.Params.TargetNode
	}
	rec.Baseline = baseline(prev, rec)
	tags := make(map[string]string, len(m.Tags)+2)
	for k, val := range m.Tags {
		tags[k] = val
	}
	tags[tagAttestation] = formatAttestation(rec)
	tags[tagAttestationBoot] = bootTag(rec.Components)
	if _, err := c.arm.setMachineTags(ctx, op.VM, tags); err != nil {
		return drivers.Result{}, fmt.Errorf("attest: record the outcome on the machine: %w", err)
	}
	return drivers.Result{Changed: true, Message: attestSummary(rec)}, nil
}

// baseline is the boot digest later attestations are held to: the first
// verified one's, kept as long as the record says so.
func baseline(prev *drivers.Attested, rec attestRecord) string {
	if prev != nil && prev.Baseline != "" {
		return prev.Baseline
	}
	if rec.Result == drivers.AttestVerified {
		return rec.Boot
	}
	return ""
}

// attestGuest runs the agent and verifies what it answers; a guest problem
// is the record's outcome, never an error of the op (it must not block
// other work).
func (c *conn) attestGuest(ctx context.Context, machine, recordedAK string) attestRecord {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return unavailable("no-nonce")
	}
	view, err := c.arm.runGuest(ctx, machine, attestRunName, attestScript+hex.EncodeToString(nonce))
	switch {
	case err != nil:
		return unavailable("run-command-failed")
	case view == nil || view.ExitCode == 127 || strings.Contains(view.Error, "command not found"):
		return unavailable("no-agent")
	case view.ExitCode != 0:
		return unavailable("agent-failed")
	}
	ev, err := attest.ParseBytes([]byte(view.Output))
	if err != nil {
		return failed("bad-evidence")
	}
	opts := attest.VerifyOptions{Nonce: nonce}
	if err := c.bindAK(ctx, machine, ev, recordedAK, &opts); err != nil {
		return failed("ak-not-bound")
	}
	res, err := attest.Verify(*ev, opts)
	if err != nil && !errors.Is(err, attest.ErrFailed) {
		return failed("verify-error")
	}
	return recordOf(res)
}

// bindAK sets opts for the AK of ev: the recorded one when its fingerprint
// matches, else a credential activation through the guest (first contact).
func (c *conn) bindAK(ctx context.Context, machine string, ev *attest.Evidence, recordedAK string, opts *attest.VerifyOptions) error {
	tpmt, err := attest.TPMTPublic(ev.AK.Public)
	if err != nil {
		tpmt = ev.AK.Public
	}
	if recordedAK != "" && strings.HasPrefix(attest.AKFingerprint(tpmt), recordedAK) {
		opts.RecordedAK = tpmt
		return nil
	}
	secret, cred, err := attest.Challenge(*ev)
	if err != nil {
		return err
	}
	b, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	view, err := c.arm.runGuest(ctx, machine, attestRunName, activateScript+base64.StdEncoding.EncodeToString(b))
	if err != nil || view == nil || view.ExitCode != 0 {
		if view != nil {
			return fmt.Errorf("the guest did not answer the credential challenge: exit %d: %s", view.ExitCode, view.Error)
		}
		return fmt.Errorf("the guest did not answer the credential challenge: %v", err)
	}
	answer, err := base64.StdEncoding.DecodeString(strings.TrimSpace(view.Output))
	if err != nil {
		return err
	}
	if err := attest.CheckActivation(secret, answer); err != nil {
		return err
	}
	opts.AKActivated = true
	return nil
}

func unavailable(code string) attestRecord {
	return attestRecord{Attested: drivers.Attested{Result: drivers.AttestUnavailable, Problem: code}}
}

func failed(code string) attestRecord {
	return attestRecord{Attested: drivers.Attested{Result: drivers.AttestFailed, Problem: code}}
}

// recordOf is what the record keeps of a verified (or failed) Result.
func recordOf(res attest.Result) attestRecord {
	if !res.OK() {
		return failed(res.Problems[0].Code)
	}
	sb := res.SecureBoot.Enabled
	rec := attestRecord{Attested: drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &sb,
		EK: res.EKFingerprint, Components: res.BootApps, Boot: drivers.BootDigest(res.BootApps)}}
	if len(res.AKFingerprint) >= 32 {
		rec.AK = res.AKFingerprint[:32]
	}
	if w := res.Windows; w != nil {
		rec.CodeIntegrity, rec.TestSigning, rec.Debugging = windowsFacts(w)
		rec.VBSRunning = vbsRunning(w)
	}
	return rec
}

// attestSummary is the op's message.
func attestSummary(r attestRecord) string {
	switch r.Result {
	case drivers.AttestUnavailable:
		return "attestation unavailable (" + r.Problem + "): nothing else changed"
	case drivers.AttestFailed:
		return "attestation FAILED (" + r.Problem + ")"
	}
	sb := "off"
	if r.SecureBoot != nil && *r.SecureBoot {
		sb = "on"
	}
	return fmt.Sprintf("verified: Secure Boot %s, %d boot component(s), boot %s", sb, len(r.Components), r.Boot)
}

// windowsFacts reads code integrity ("unknown" is not a fact), test signing
// and debugging from Windows' boot state.
func windowsFacts(w *attest.Windows) (ci, ts, dbg *bool) {
	if w.CodeIntegrity == "on" || w.CodeIntegrity == "off" {
		v := w.CodeIntegrity == "on"
		ci = &v
	}
	t, d := w.TestSigning, w.BootDebugging || w.KernelDebugging || w.VBS.HypervisorDebug
	return ci, &t, &d
}

func vbsRunning(w *attest.Windows) *bool {
	v := w.VBS.Running
	return &v
}
