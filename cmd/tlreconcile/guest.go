package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/guestagent"
)

// guestOptions are the flags of `tlreconcile guest attest|activate`.
type guestOptions struct {
	root       *rootOptions
	command    string
	nonce      string
	format     string
	credential string
}

func newGuestCmd(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guest",
		Short: "The attestation agent, inside a trusted-launch guest",
		Long: `guest runs inside a trusted-launch VM (Windows or Linux), put there with the image or by
the administrator; tlreconcile reaches it through the Arc machine's Run Command (Azure Local) or
PowerShell Direct (classic Hyper-V), so it needs no network. It opens the guest's TPM (Windows
through TBS, Linux through /dev/tpmrm0, as root/Administrator), re-creates its attestation key
(a primary key of the vTPM's endorsement hierarchy: nothing is stored, nothing else in the
guest changes) and answers:
  attest    the EK public area, the AK, quotes over PCRs 0-15 (SHA-256 and SHA-1) carrying the
            verifier's nonce, and the TCG event log, as one JSON document
  activate  the answer to the verifier's credential challenge (first contact: it proves the
            AK lives in the TPM of that EK)
Verify a saved attestation with 'tlreconcile attest verify FILE'.`,
		Example: `  tlreconcile guest attest --nonce 0123456789abcdef0123456789abcdef --format json > attestation.json
  tlreconcile attest verify attestation.json --nonce 0123456789abcdef0123456789abcdef`,
		Args: cobra.NoArgs,
	}
	o := &guestOptions{root: root, command: "attest"}
	attestCmd := &cobra.Command{Use: "attest --nonce HEX [--format json]", Short: "Print this guest's attestation for the verifier's nonce",
		Example: "  tlreconcile guest attest --nonce 0123456789abcdef0123456789abcdef > attestation.json",
		Args:    cobra.NoArgs, RunE: runE(o)}
	attestCmd.Flags().StringVar(&o.nonce, "nonce", "", "the verifier's nonce, 8 to 64 bytes in hex")
	attestCmd.Flags().StringVar(&o.format, "format", "json", "output format: json")
	activate := &guestOptions{root: root, command: "activate"}
	activateCmd := &cobra.Command{Use: "activate --credential BASE64", Short: "Answer the verifier's credential challenge",
		Example: "  tlreconcile guest activate --credential eyJjcmVkZW50aWFsIjoi...",
		Args:    cobra.NoArgs, RunE: runE(activate)}
	activateCmd.Flags().StringVar(&activate.credential, "credential", "", "the verifier's challenge: base64 of its JSON")
	cmd.AddCommand(attestCmd, activateCmd)
	return cmd
}

// Validate checks the flags before the TPM is opened.
func (o *guestOptions) Validate() error {
	switch {
	case o.command == "attest" && o.nonce == "":
		return fmt.Errorf("guest attest: give the verifier's nonce: --nonce HEX")
	case o.command == "attest" && o.format != "json":
		return fmt.Errorf("guest attest: --format %q: the attestation is JSON (--format json)", o.format)
	case o.command == "activate" && o.credential == "":
		return fmt.Errorf("guest activate: give the verifier's challenge: --credential BASE64")
	}
	return nil
}

// Run opens the guest's TPM and answers.
func (o *guestOptions) Run(context.Context) error {
	s, err := guestagent.Open()
	if err != nil {
		return err
	}
	defer s.Close()
	args := []string{o.command, "--nonce", o.nonce}
	if o.command == "activate" {
		args = []string{o.command, "--credential", o.credential}
	}
	out, code, msg := guestagent.Command(s, args)
	fmt.Fprint(o.root.stdout, out)
	fmt.Fprint(o.root.stderr, msg)
	if code != 0 {
		return &exitError{code: code, silent: true}
	}
	return nil
}
