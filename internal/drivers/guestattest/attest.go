package guestattest

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

// Output is what the agent's command printed and its exit code.
type Output struct {
	ExitCode int
	Stdout   string
	Stderr   string
}

// A Runner runs `tlreconcile guest ARGS...` inside the guest through the
// driver's channel. The arguments are hex or base64 data and flag names, so
// they never need quoting. It returns (nil, nil) when the channel worked but
// the command did not run to an end (no agent, no TPM), and an error when
// the channel itself failed; an *Unavailable error says why in a problem
// code (e.g. no-guest-credential), any other error counts as
// "channel-failed".
type Runner func(ctx context.Context, args []string) (*Output, error)

// Unavailable is a Runner's error that names why the guest could not be
// reached; Code becomes the record's problem (lower-case words and dashes).
type Unavailable struct {
	Code string
	Err  error
}

func (u *Unavailable) Error() string {
	if u.Err == nil {
		return "attestation unavailable: " + u.Code
	}
	return "attestation unavailable: " + u.Code + ": " + u.Err.Error()
}

func (u *Unavailable) Unwrap() error { return u.Err }

// Record is one attestation's outcome: what the planner sees, and the
// fingerprint (32 hex) of the AK bound to the EK at first contact.
type Record struct {
	drivers.Attested
	AK string
}

// AttestArgs and ActivateArgs are the agent's command lines (after
// `tlreconcile guest`).
func AttestArgs(nonce []byte) []string {
	return []string{"attest", "--format", "json", "--nonce", hex.EncodeToString(nonce)}
}

// ActivateArgs answers a credential challenge (cred is its JSON).
func ActivateArgs(cred []byte) []string {
	return []string{"activate", "--credential", base64.StdEncoding.EncodeToString(cred)}
}

// Pin is what earlier contacts established about a guest's vTPM: AK, the
// fingerprint (prefix) of the AK the last record bound ("" on first
// contact), and EK, the EK fingerprint the vTPM must present ("" while the
// driver has none accepted for this VM). A guest that presents another EK
// fails (ek-mismatch) whatever AK it brings: a credential activation proves
// that an AK lives in the TPM of the EK presented, not that this is the
// VM's vTPM, so without the pin an agent replaced by one over a software TPM
// could answer as a new first contact.
type Pin struct{ AK, EK string }

// Attest runs the agent through run and verifies what it answers against
// pin. Time, Node and Baseline are the caller's (Conclude). The error is a
// channel failure worth retrying (drivers.IsTransient, or the context's end):
// the op fails and nothing is recorded, so a hiccup neither overwrites the
// last record nor passes for a verdict on the guest.
func Attest(ctx context.Context, run Runner, pin Pin) (Record, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return unavailable("no-nonce"), nil
	}
	out, err := run(ctx, AttestArgs(nonce))
	switch {
	case retryable(ctx, err):
		return Record{}, err
	case err != nil:
		return unavailable(problemOf(err)), nil
	case out == nil || out.ExitCode == 127 || strings.Contains(out.Stderr, "command not found"):
		return unavailable("no-agent"), nil
	case out.ExitCode != 0:
		return unavailable("agent-failed"), nil
	}
	ev, err := attest.ParseBytes([]byte(out.Stdout))
	switch {
	case err != nil && !json.Valid([]byte(out.Stdout)):
		// Cut short or mangled on the way (a channel's output limit): the
		// channel's failure, not the guest's. A guest that wants to hide can
		// remove the agent just as well, so this weakens nothing.
		return unavailable("output-unreadable"), nil
	case err != nil:
		return failed("bad-evidence"), nil
	}
	if pin.EK != "" {
		if fp, err := attest.EKFingerprint(ev.EKPublic); err != nil || fp != pin.EK {
			return failed(attest.CodeEKMismatch), nil // before any activation against the EK presented
		}
	}
	opts := attest.VerifyOptions{Nonce: nonce, ExpectedEK: pin.EK}
	if err := bindAK(ctx, run, ev, pin.AK, &opts); err != nil {
		if retryable(ctx, err) {
			return Record{}, err
		}
		return failed("ak-not-bound"), nil
	}
	res, err := attest.Verify(*ev, opts)
	if err != nil && !errors.Is(err, attest.ErrFailed) {
		return failed("verify-error"), nil
	}
	return recordOf(res), nil
}

// retryable says whether err is the channel's passing failure (or the
// context's end) rather than something to record.
func retryable(ctx context.Context, err error) bool {
	return err != nil && (drivers.IsTransient(err) || ctx.Err() != nil)
}

// problemOf is the problem code of a Runner's error.
func problemOf(err error) string {
	var u *Unavailable
	if errors.As(err, &u) && recordCode.MatchString(u.Code) {
		return u.Code
	}
	return "channel-failed"
}

// bindAK sets opts for the AK of ev: the recorded one when its fingerprint
// matches, else a credential activation through the guest (first contact).
func bindAK(ctx context.Context, run Runner, ev *attest.Evidence, recordedAK string, opts *attest.VerifyOptions) error {
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
	out, err := run(ctx, ActivateArgs(b))
	switch {
	case err != nil:
		return fmt.Errorf("the guest did not answer the credential challenge: %w", err)
	case out == nil || out.ExitCode != 0:
		return errors.New("the guest did not answer the credential challenge")
	}
	answer, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out.Stdout))
	if err != nil {
		return err
	}
	if err := attest.CheckActivation(secret, answer); err != nil {
		return err
	}
	opts.AKActivated = true
	return nil
}

// Conclude stamps r with the time and the node it was made on, and the
// boot baseline later attestations are held to: the first verified one's,
// kept from prev (the VM's previous record) as long as there is one.
//
// A record that did not verify keeps the pin's AK and EK: a guest that
// answers nothing, or garbage, must not release the pin for its next answer.
func (r *Record) Conclude(prev *drivers.Attested, pin Pin, node string, now time.Time) {
	r.Time = now.UTC().Truncate(time.Second)
	r.Node = node
	if r.Result != drivers.AttestVerified {
		r.AK, r.EK = pin.AK, pin.EK
	}
	switch {
	case prev != nil && prev.Baseline != "":
		r.Baseline = prev.Baseline
	case r.Result == drivers.AttestVerified:
		r.Baseline = r.Boot
	}
}

func unavailable(code string) Record {
	return Record{Attested: drivers.Attested{Result: drivers.AttestUnavailable, Problem: code}}
}

func failed(code string) Record {
	return Record{Attested: drivers.Attested{Result: drivers.AttestFailed, Problem: code}}
}

// recordOf is what the record keeps of a verified (or failed) Result.
func recordOf(res attest.Result) Record {
	if !res.OK() {
		return failed(res.Problems[0].Code)
	}
	sb := res.SecureBoot.Enabled
	rec := Record{Attested: drivers.Attested{Result: drivers.AttestVerified, SecureBoot: &sb,
		EK: res.EKFingerprint, Components: res.BootApps, Boot: drivers.BootDigest(res.BootApps)}}
	if len(res.AKFingerprint) >= 32 {
		rec.AK = res.AKFingerprint[:32]
	}
	if w := res.Windows; w != nil {
		rec.CodeIntegrity, rec.TestSigning, rec.Debugging = windowsFacts(w)
		v := w.VBS.Running
		rec.VBSRunning = &v
	}
	return rec
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

// Summary is the attest op's message.
func Summary(r Record) string {
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
