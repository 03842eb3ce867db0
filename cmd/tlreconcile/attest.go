package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

func newAttestCmd(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Verify how a trusted-launch VM booted, from its vTPM's attestation",
		Long: `attest works with the attestations a guest's agent makes (tlreconcile guest attest): a quote of
the vTPM's PCRs signed by an attestation key, the TCG event log, and the vTPM's endorsement key.`,
		Example: `  tlreconcile attest verify attestation.json --nonce 0123456789abcdef0123456789abcdef
  tlreconcile attest verify attestation.json --format json | jq .secure_boot`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newAttestVerifyCmd(root))
	return cmd
}

// attestVerifyOptions are the flags of `tlreconcile attest verify`.
type attestVerifyOptions struct {
	root     *rootOptions
	file     string
	format   string
	nonce    string
	expectEK string
	limit    int64
}

func newAttestVerifyCmd(root *rootOptions) *cobra.Command {
	o := &attestVerifyOptions{root: root}
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a saved attestation offline and show how the VM booted",
		Long: `verify reads one attestation (the JSON of tlreconcile guest attest, go-attestation's
PlatformParameters JSON, or a raw TCG event log; - reads standard input) and checks it:

  1. TPM 2.0 only: a TPM 1.2 attestation is refused.
  2. The quote is signed by the attestation key (AK) and covers the PCR values, and carries the
     nonce given with --nonce. Without --nonce the quote could be an old one: the output says so.
  3. The event log replays to the quoted PCRs: every event the output reports is vouched for by
     the TPM. A PCR that differs is named with both values.
  4. The EK fingerprint (the vTPM identity tlreconcile records) is compared with --expect-ek.

Offline there is no credential activation, so the AK is not bound to the EK (a note says so); the
reconciler activates a credential at first contact and records the AK.

A raw event log has no quote: it is replayed against the PCR values it implies ("log-only"),
which shows what it claims but proves nothing about the TPM.

Then it prints Secure Boot (enabled, PK, KEK, db, dbx), the boot manager and applications, and
on Windows the boot state (code integrity, DEP, test signing, debugging, BitLocker, ELAM, VBS)
or on Linux the kernel command line. Exit status 1, with the reasons, when it does not verify.`,
		Example: `  # check an attestation saved from a guest, with the nonce it was asked for
  tlreconcile attest verify vm1-attestation.json --nonce 3f1c9a0b5e7d2468

  # the same, for a script
  tlreconcile attest verify vm1-attestation.json --format json | jq .secure_boot

  # what a raw Linux event log claims (no quote: log-only)
  tlreconcile attest verify /sys/kernel/security/tpm0/binary_bios_measurements`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return validateThenRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", view.FormatText, "output format: text or json")
	f.StringVar(&o.nonce, "nonce", "", "the nonce the agent was given, hex; the quote must carry it")
	f.StringVar(&o.expectEK, "expect-ek", "", "the recorded vTPM identity (EK fingerprint, 64 hex digits); a different EK fails")
	f.Int64Var(&o.limit, "max-file-size", attest.DefaultLimit, "largest attestation read, in bytes")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags before any I/O.
func (o *attestVerifyOptions) Validate() error {
	errs := []error{oneOf("attest verify", "format", o.format, view.FormatText, view.FormatJSON)}
	if _, err := hex.DecodeString(o.nonce); err != nil {
		errs = append(errs, fmt.Errorf("attest verify: --nonce %q is not hex: give the nonce as hex digits, e.g. 3f1c9a0b", o.nonce))
	}
	if b, err := hex.DecodeString(o.expectEK); o.expectEK != "" && (err != nil || len(b) != 32) {
		errs = append(errs, fmt.Errorf("attest verify: --expect-ek %q is not a sha256 fingerprint: give the 64 hex digits tlreconcile recorded", o.expectEK))
	}
	if o.limit <= 0 {
		errs = append(errs, fmt.Errorf("attest verify: --max-file-size %d must be positive", o.limit))
	}
	return errors.Join(errs...)
}

// Run reads, verifies and prints the attestation.
func (o *attestVerifyOptions) Run(_ context.Context) error {
	data, err := o.read()
	if err != nil {
		return err
	}
	ev, raw, err := attest.ParseAny(data)
	if err != nil {
		return fmt.Errorf("attest verify: %s: %w", o.file, err)
	}
	opts := attest.VerifyOptions{LogOnly: raw, ExpectedEK: strings.ToLower(o.expectEK)}
	if o.nonce != "" {
		opts.Nonce, _ = hex.DecodeString(o.nonce)
	}
	res, verr := attest.Verify(*ev, opts)
	out := o.root.stdout
	if o.format == view.FormatJSON {
		err = writeAttestJSON(out, res)
	} else {
		err = writeAttestText(out, o.file, res)
	}
	if err != nil {
		return fmt.Errorf("attest verify: write output: %w", err)
	}
	if verr != nil {
		return fmt.Errorf("attest verify: %s: %w", o.file, verr)
	}
	return nil
}

func (o *attestVerifyOptions) read() ([]byte, error) {
	var r io.Reader = o.root.stdin
	if o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			return nil, fmt.Errorf("attest verify: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, o.limit+1))
	if err != nil {
		return nil, fmt.Errorf("attest verify: read %s: %w", o.file, err)
	}
	if int64(len(data)) > o.limit {
		return nil, fmt.Errorf("attest verify: %s is larger than %d bytes: raise --max-file-size if it really is an attestation", o.file, o.limit)
	}
	return data, nil
}

// attestJSON is the JSON output: the Result with a format_version.
type attestJSON struct {
	FormatVersion int  `json:"format_version"`
	Verified      bool `json:"verified"`
	attest.Result
}

func writeAttestJSON(w io.Writer, r attest.Result) error {
	b, err := json.MarshalIndent(attestJSON{FormatVersion: 1, Verified: r.OK(), Result: r}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeAttestText(w io.Writer, file string, r attest.Result) error {
	var b bytes.Buffer
	status := "verified"
	switch {
	case !r.OK():
		status = "FAILED"
	case r.Mode == attest.ModeLogOnly:
		status = "log replays, nothing attested (log-only)"
	}
	tpm := "TPM 2.0"
	if r.TPMVersion == 1 {
		tpm = "TPM 1.2"
	}
	fmt.Fprintf(&b, "Attestation %s: %s (%s, %s)\n", file, status, tpm, r.Mode)
	fmt.Fprintf(&b, "  quote:      %s\n", yesNo(r.QuoteOK, "signed by the AK, covers "+pcrRange(r.QuotedPCRs), "not verified"))
	fmt.Fprintf(&b, "  nonce:      %s\n", yesNo(r.NonceOK, "the expected one", "not checked against an expected nonce"))
	fmt.Fprintf(&b, "  event log:  %s\n", yesNo(r.LogReplayOK, fmt.Sprintf("replays to the PCRs (%d events)", r.Events), "does not replay"))
	fmt.Fprintf(&b, "  EK:         %s\n", orNone(r.EKFingerprint))
	fmt.Fprintf(&b, "  AK:         %s (binding: %s)\n", orNone(r.AKFingerprint), r.AKBinding)
	writeBootText(&b, r)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem %s: %s\n", p.Code, p.Reason)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note %s: %s\n", n.Code, n.Reason)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeBootText(b *bytes.Buffer, r attest.Result) {
	sb := r.SecureBoot
	fmt.Fprintf(b, "Secure Boot:  %s\n", yesNo(sb.Enabled, "on", "off"))
	fmt.Fprintf(b, "  PK:         %s\n", orNone(strings.Join(sb.PK, ", ")))
	fmt.Fprintf(b, "  KEK:        %d\n", sb.KEK)
	fmt.Fprintf(b, "  db:         %d certificates, %d hashes\n", len(sb.DB), sb.DBHashes)
	for _, d := range sb.DB {
		fmt.Fprintf(b, "              %s\n", d)
	}
	fmt.Fprintf(b, "  dbx:        %d certificates, %d hashes\n", sb.DBXCerts, sb.DBXHashes)
	fmt.Fprintf(b, "  authority:  %s\n", orNone(strings.Join(sb.Authorities, ", ")))
	fmt.Fprintf(b, "Boot manager: %s\n", orNone(r.BootManager))
	for _, a := range r.BootApps {
		fmt.Fprintf(b, "  boot app:   %s\n", a)
	}
	if w := r.Windows; w != nil {
		fmt.Fprintf(b, "Windows:      code integrity %s, DEP %s, test signing %s, boot debugging %s, kernel debugging %s\n",
			w.CodeIntegrity, w.DEP, onOff(w.TestSigning), onOff(w.BootDebugging), onOff(w.KernelDebugging))
		fmt.Fprintf(b, "  boot apps:  %s\n", orNone(strings.Join(w.BootApps, ", ")))
		fmt.Fprintf(b, "  modules:    %d loaded; ELAM: %s\n", w.LoadedModules, orNone(strings.Join(w.ELAM, ", ")))
		unlocks := make([]string, 0, len(w.BitLockerUnlocks))
		for _, u := range w.BitLockerUnlocks {
			unlocks = append(unlocks, strings.Join(u, "+"))
		}
		fmt.Fprintf(b, "  BitLocker:  %s\n", orNone(strings.Join(unlocks, ", ")))
		fmt.Fprintf(b, "  VBS:        %s (hypervisor %s, secure kernel %s, required: %s)\n", yesNo(w.VBS.Running, "running", "not running"),
			yesNo(w.VBS.HypervisorLaunched, "launched", "off"), yesNo(w.VBS.VSMLaunched, "launched", "off"), orNone(strings.Join(w.VBS.Required, ", ")))
	}
	if l := r.Linux; l != nil {
		fmt.Fprintf(b, "Linux:        kernel command line %s\n", orNone(l.KernelCmdline))
	}
}

func pcrRange(pcrs []string) string {
	if len(pcrs) == 0 {
		return "no PCRs"
	}
	return fmt.Sprintf("%d PCRs (%s .. %s)", len(pcrs), pcrs[0], pcrs[len(pcrs)-1])
}

func yesNo(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func onOff(b bool) string { return yesNo(b, "on", "off") }

func orNone(s string) string { return yesNo(s != "", s, "(none)") }
