package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

func newGuestCmd(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guest",
		Short: "The agent that runs inside a trusted-launch VM (attestation)",
		Long: `guest commands run inside the VM, not on the host: tlreconcile reaches them over the
platform's own channel (an Arc machine's Run Command on Azure Local, PowerShell Direct on Hyper-V),
so they need no network path to the guest. They use the guest's vTPM (TBS on Windows,
/dev/tpmrm0 on Linux) and change nothing in the guest but the agent's own AK file.`,
		Example: `  # inside the guest: the attestation for the verifier's nonce
  tlreconcile guest attest --nonce 3f1c9a0b5e7d24681f2e3d4c5b6a7980 --format json

  # first contact: answer the verifier's credential-activation challenge
  tlreconcile guest activate --challenge challenge.json`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newGuestAttestCmd(root), newGuestActivateCmd(root))
	return cmd
}

// guestTPMFlags say which TPM the guest commands use: the OS's, or (for
// testing) a device or a simulator's socket with an event log file.
type guestTPMFlags struct {
	state    string
	tpm      string
	eventLog string
}

func (g *guestTPMFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&g.state, "state", defaultGuestState(), "directory of the agent's attestation key file ("+guestagent.AKFileName+", mode 0600)")
	f.StringVar(&g.tpm, "tpm", "", "a TPM device or a TPM simulator's command socket instead of the OS's TPM (testing)")
	f.StringVar(&g.eventLog, "event-log", "", "the event log to send with --tpm (testing)")
	_ = f.MarkHidden("tpm")
	_ = f.MarkHidden("event-log")
}

func (g *guestTPMFlags) validate(command string) error {
	var errs []error
	if g.state == "" {
		errs = append(errs, fmt.Errorf("%s: --state is empty: give the directory for the agent's AK file", command))
	}
	if (g.tpm == "") != (g.eventLog == "") {
		errs = append(errs, fmt.Errorf("%s: --tpm and --event-log go together (testing a TPM outside a guest)", command))
	}
	return errors.Join(errs...)
}

func (g *guestTPMFlags) open() (guestagent.Channel, error) {
	if g.tpm != "" {
		return guestagent.OpenPath(g.tpm, g.eventLog)
	}
	return guestagent.Open()
}

// defaultGuestState is where the agent keeps its AK on each OS.
func defaultGuestState() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "tlreconcile")
	}
	return "/var/lib/tlreconcile-guest"
}

// guestAttestOptions are the flags of `tlreconcile guest attest`.
type guestAttestOptions struct {
	root   *rootOptions
	nonce  string
	format string
	guestTPMFlags
}

func newGuestAttestCmd(root *rootOptions) *cobra.Command {
	o := &guestAttestOptions{root: root}
	cmd := &cobra.Command{
		Use:   "attest --nonce HEX",
		Short: "Quote this VM's vTPM with the verifier's nonce and print the attestation",
		Long: `attest runs inside the guest. It opens the vTPM (Windows through TBS, Linux through
/dev/tpmrm0), creates an attestation key (AK) under the TPM's storage root key, or reuses the one
in --state, and prints one attestation: the ECC endorsement key's public area (the vTPM identity),
the AK, a quote over PCRs 0-15 (SHA-256) carrying --nonce, the PCR values, and the TCG event log.
The host checks it with tlreconcile attest verify (or the reconciler does).

It changes nothing in the guest but its AK file (--state/` + guestagent.AKFileName + `, mode 0600; on a TPM
without one, the standard storage root key is made persistent at 0x81000001, as Windows does),
and it needs no network. --format json prints the machine-readable attestation (format_version
1); text prints a short summary.`,
		Example: `  # what the reconciler runs over Run Command or PowerShell Direct
  tlreconcile guest attest --nonce 3f1c9a0b5e7d24681f2e3d4c5b6a7980 --format json

  # on the host, with the same nonce
  tlreconcile attest verify attestation.json --nonce 3f1c9a0b5e7d24681f2e3d4c5b6a7980`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.nonce, "nonce", "", "the verifier's nonce, hex (1 to 64 bytes); the quote carries it")
	f.StringVar(&o.format, "format", view.FormatText, "output format: text or json")
	o.add(cmd)
	_ = cmd.MarkFlagRequired("nonce")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags before the TPM is opened.
func (o *guestAttestOptions) Validate() error {
	errs := []error{oneOf("guest attest", "format", o.format, view.FormatText, view.FormatJSON), o.validate("guest attest")}
	b, err := hex.DecodeString(o.nonce)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("guest attest: --nonce %q is not hex: give the verifier's nonce as hex digits, e.g. 3f1c9a0b", o.nonce))
	case len(b) == 0 || len(b) > guestagent.MaxNonce:
		errs = append(errs, fmt.Errorf("guest attest: --nonce is %d bytes: give 1 to %d bytes (%d hex digits at most)", len(b), guestagent.MaxNonce, 2*guestagent.MaxNonce))
	}
	return errors.Join(errs...)
}

// Run quotes the TPM and prints the attestation.
func (o *guestAttestOptions) Run(ctx context.Context) error {
	nonce, _ := hex.DecodeString(o.nonce)
	ch, err := o.open()
	if err != nil {
		return fmt.Errorf("guest attest: %w", err)
	}
	defer ch.Close()
	keys := guestagent.FileStore{Dir: o.state}
	ev, rep, err := guestagent.Attest(ctx, ch, nonce, guestagent.Options{Keys: keys})
	if err != nil {
		return fmt.Errorf("guest attest: %w", err)
	}
	if o.format == view.FormatJSON {
		err = writeJSON(o.root.stdout, ev)
	} else {
		err = writeGuestText(o.root.stdout, ev, rep, keys.Path())
	}
	if err != nil {
		return fmt.Errorf("guest attest: write output: %w", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeGuestText(w io.Writer, ev attest.Evidence, rep guestagent.Report, akFile string) error {
	var b strings.Builder
	ek, err := attest.EKFingerprint(ev.EKPublic)
	if err != nil {
		ek = "(unreadable: " + err.Error() + ")"
	}
	ak := "reused from " + akFile
	switch {
	case rep.AKReplaced:
		ak = "new: the one in " + akFile + " does not load on this TPM (a new vTPM?) and was replaced"
	case rep.AKCreated:
		ak = "new, kept in " + akFile
	}
	fmt.Fprintf(&b, "Attestation made (TPM 2.0, format_version %d)\n", ev.FormatVersion)
	fmt.Fprintf(&b, "  EK:         %s\n", ek)
	fmt.Fprintf(&b, "  AK:         %s (%s)\n", attest.AKFingerprint(ev.AK.Public), ak)
	fmt.Fprintf(&b, "  quote:      PCRs 0-15 sha256, nonce %s\n", hex.EncodeToString(ev.Nonce))
	fmt.Fprintf(&b, "  event log:  %d bytes\n", len(ev.EventLog))
	b.WriteString("Run with --format json for the attestation itself.\n")
	_, err = io.WriteString(w, b.String())
	return err
}

// guestActivateOptions are the flags of `tlreconcile guest activate`.
type guestActivateOptions struct {
	root      *rootOptions
	challenge string
	guestTPMFlags
}

// activationAnswer is what `guest activate` prints: the secret the verifier
// compares (attest.CheckActivation). It is a one-time answer to one challenge,
// useless after the verifier has checked it, and the only output.
type activationAnswer struct {
	FormatVersion int    `json:"format_version"`
	Secret        []byte `json:"secret"`
}

func newGuestActivateCmd(root *rootOptions) *cobra.Command {
	o := &guestActivateOptions{root: root}
	cmd := &cobra.Command{
		Use:   "activate --challenge FILE",
		Short: "Answer the verifier's credential-activation challenge with this vTPM",
		Long: `activate runs inside the guest, after attest with the same --state. It reads the
challenge the verifier made for this guest's EK and AK (JSON: credential and secret, base64; - reads
standard input), has the vTPM decrypt it (TPM2_ActivateCredential, which only the TPM holding both
keys can do), and prints the answer as JSON for the verifier: {"format_version":1,"secret":...}.
That proves the AK is this vTPM's. It changes nothing and needs no network.`,
		Example: `  tlreconcile guest activate --challenge challenge.json > answer.json`,
		Args:    cobra.NoArgs,
		RunE:    runE(o),
	}
	cmd.Flags().StringVar(&o.challenge, "challenge", "", "the verifier's challenge (JSON), or - for standard input")
	o.add(cmd)
	_ = cmd.MarkFlagRequired("challenge")
	return cmd
}

// Validate checks the flags before any I/O.
func (o *guestActivateOptions) Validate() error {
	errs := []error{o.validate("guest activate")}
	if o.challenge == "" {
		errs = append(errs, errors.New("guest activate: --challenge is empty: give the challenge file the verifier sent, or -"))
	}
	return errors.Join(errs...)
}

// Run answers the challenge.
func (o *guestActivateOptions) Run(ctx context.Context) error {
	cred, err := o.readChallenge()
	if err != nil {
		return err
	}
	ch, err := o.open()
	if err != nil {
		return fmt.Errorf("guest activate: %w", err)
	}
	defer ch.Close()
	secret, err := guestagent.Activate(ctx, ch, cred, guestagent.Options{Keys: guestagent.FileStore{Dir: o.state}})
	if err != nil {
		return fmt.Errorf("guest activate: %w", err)
	}
	if err := writeJSON(o.root.stdout, activationAnswer{FormatVersion: 1, Secret: secret}); err != nil {
		return fmt.Errorf("guest activate: write output: %w", err)
	}
	return nil
}

// maxChallenge bounds the challenge file: a real one is a few hundred bytes.
const maxChallenge = 64 << 10

func (o *guestActivateOptions) readChallenge() (attest.EncryptedCredential, error) {
	var cred attest.EncryptedCredential
	var r io.Reader = o.root.stdin
	if o.challenge != "-" {
		f, err := os.Open(o.challenge)
		if err != nil {
			return cred, fmt.Errorf("guest activate: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxChallenge+1))
	if err != nil {
		return cred, fmt.Errorf("guest activate: read %s: %w", o.challenge, err)
	}
	if len(data) > maxChallenge {
		return cred, fmt.Errorf("guest activate: %s is larger than %d bytes: is it the challenge?", o.challenge, maxChallenge)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cred); err != nil {
		return cred, fmt.Errorf("guest activate: %s: not a challenge (JSON with credential and secret): %w", o.challenge, err)
	}
	if len(cred.Credential) == 0 || len(cred.Secret) == 0 {
		return cred, fmt.Errorf("guest activate: %s: the challenge needs both credential and secret", o.challenge)
	}
	return cred, nil
}
