package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// AttestResult writes what `tlreconcile attest verify` found about one saved attestation:
// the Result as JSON (format_version 1) with --format json, else the text report of file.
func AttestResult(w io.Writer, format, file string, r attest.Result) error {
	if format == FormatJSON {
		return writeAttestJSON(w, r)
	}
	return writeAttestText(w, file, r)
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
	fmt.Fprintf(&b, "  quote:      %s\n", attestYesNo(r.QuoteOK, "signed by the AK, covers "+pcrRange(r.QuotedPCRs), "not verified"))
	fmt.Fprintf(&b, "  nonce:      %s\n", attestYesNo(r.NonceOK, "the expected one", "not checked against an expected nonce"))
	fmt.Fprintf(&b, "  event log:  %s\n", attestYesNo(r.LogReplayOK, fmt.Sprintf("replays to the PCRs (%d events)", r.Events), "does not replay"))
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
	fmt.Fprintf(b, "Secure Boot:  %s\n", attestYesNo(sb.Enabled, "on", "off"))
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
		fmt.Fprintf(b, "  VBS:        %s (hypervisor %s, secure kernel %s, required: %s)\n", attestYesNo(w.VBS.Running, "running", "not running"),
			attestYesNo(w.VBS.HypervisorLaunched, "launched", "off"), attestYesNo(w.VBS.VSMLaunched, "launched", "off"), orNone(strings.Join(w.VBS.Required, ", ")))
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

func attestYesNo(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func onOff(b bool) string { return attestYesNo(b, "on", "off") }

func orNone(s string) string { return attestYesNo(s != "", s, "(none)") }
