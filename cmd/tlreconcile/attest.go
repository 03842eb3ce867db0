package main

import (
	"context"
	"encoding/hex"
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
	if err := view.AttestResult(o.root.stdout, o.format, o.file, res); err != nil {
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
