package attest

// Result is what Verify learned about one attestation. It is plain data:
// the CLI renders it and the planner evaluates it (Evaluate). Booleans about
// the boot (Secure Boot, the Windows state) are only meaningful when
// LogReplayOK: they come from events the verified PCRs vouch for.
type Result struct {
	// Mode is "quote" (the PCRs were checked against a signed quote) or
	// "log-only" (a raw event log replayed against the PCR values it implies:
	// nothing proves those were a TPM's).
	Mode Mode `json:"mode"`
	// TPMVersion is the attestation's TPM version (2; 1 is refused).
	TPMVersion int `json:"tpm_version"`
	// EKFingerprint is EKFingerprint(Evidence.EKPublic); "" without one.
	EKFingerprint string `json:"ek_fingerprint,omitempty"`
	// AKFingerprint is the hex sha256 of the AK's TPMT_PUBLIC.
	AKFingerprint string `json:"ak_fingerprint,omitempty"`
	// AKBinding says how the AK is tied to the EK: "activated" (credential
	// activation at first contact), "recorded" (the AK recorded then), or
	// "none" (not bound: the quote proves only that some TPM key signed it).
	AKBinding string `json:"ak_binding"`
	// NonceOK: the quote carries the expected nonce (VerifyOptions.Nonce).
	// False when no nonce was expected (see Notes) or it differs (Problems).
	NonceOK bool `json:"nonce_ok"`
	// QuoteOK: every quote is signed by the AK and covers the PCR values.
	QuoteOK bool `json:"quote_ok"`
	// QuotedPCRs lists the PCRs the quotes cover, "sha1:0" style, sorted.
	QuotedPCRs []string `json:"quoted_pcrs"`
	// LogReplayOK: the event log replays to the (quoted) PCR values.
	LogReplayOK bool `json:"log_replay_ok"`
	// Events is how many events the log holds.
	Events int `json:"events"`

	SecureBoot  SecureBoot `json:"secure_boot"`
	BootManager string     `json:"boot_manager,omitempty"`
	// BootApps are the EFI applications the firmware started (PCR 4
	// EV_EFI_BOOT_SERVICES_APPLICATION), in order: their file path, or
	// "sha256:<digest>" when the event names no file.
	BootApps []string `json:"boot_apps"`
	Windows  *Windows `json:"windows,omitempty"`
	Linux    *Linux   `json:"linux,omitempty"`

	// Problems are the reasons the attestation failed; empty when it verified.
	Problems []Problem `json:"problems"`
	// Notes are what was not checked and why; they do not fail Verify.
	Notes []Problem `json:"notes"`
}

// Mode is how the PCR values were established.
type Mode string

// The verification modes.
const (
	ModeQuote   Mode = "quote"
	ModeLogOnly Mode = "log-only"
)

// The AK bindings of Result.AKBinding.
const (
	BindingActivated = "activated"
	BindingRecorded  = "recorded"
	BindingNone      = "none"
)

// SecureBoot is the UEFI Secure Boot state the log records (PCR 7).
type SecureBoot struct {
	Enabled bool `json:"enabled"`
	// PK is the platform key's subject (or "sha256:<hash>" for a hash entry).
	PK []string `json:"pk"`
	// KEK counts the key exchange keys (certificates and hashes).
	KEK int `json:"kek"`
	// DB are the subjects of db's certificates; DBHashes counts its hashes.
	DB       []string `json:"db"`
	DBHashes int      `json:"db_hashes"`
	// DBXCerts counts dbx's certificates; DBXHashes its hashes.
	DBXCerts  int `json:"dbx_certs"`
	DBXHashes int `json:"dbx_hashes"`
	// Authorities are the db certificates that authorised a boot image.
	Authorities []string `json:"authorities"`
}

// Windows is the boot state Windows measured into PCRs 12-13 (SIPA events).
type Windows struct {
	// CodeIntegrity, DEP: "on", "off" or "unknown" (not consistently reported).
	CodeIntegrity   string `json:"code_integrity"`
	DEP             string `json:"dep"`
	TestSigning     bool   `json:"test_signing"`
	BootDebugging   bool   `json:"boot_debugging"`
	KernelDebugging bool   `json:"kernel_debugging"`
	// BitLockerUnlocks are the BitLocker unlock events, each the list of the
	// unlock's methods ("tpm", "pin", "recovery", ...; "none" for no BitLocker).
	BitLockerUnlocks [][]string `json:"bitlocker_unlocks"`
	// ELAM names the early-launch anti-malware drivers.
	ELAM []string `json:"elam"`
	// BootApps are the Windows boot applications (SIPA file paths of .efi
	// images, e.g. winload.efi), in order.
	BootApps []string `json:"boot_apps"`
	// LoadedModules counts the boot drivers and modules measured.
	LoadedModules int    `json:"loaded_modules"`
	ColdBoot      bool   `json:"cold_boot"`
	BootCount     uint64 `json:"boot_count"`
	VBS           VBS    `json:"vbs"`
}

// VBS is virtualisation-based security as the SIPA events report it.
type VBS struct {
	// Running: the hypervisor and the secure kernel (VSM) were launched.
	Running bool `json:"running"`
	// HypervisorLaunched, VSMLaunched: their launch types were not "off".
	HypervisorLaunched bool `json:"hypervisor_launched"`
	VSMLaunched        bool `json:"vsm_launched"`
	HypervisorDebug    bool `json:"hypervisor_debug"`
	// HVCIPolicy is the SIPAEVENT_VBS_HVCI_POLICY value; 0 when absent.
	HVCIPolicy uint64 `json:"hvci_policy"`
	// Required lists the VBS requirements measured as set ("secure-boot",
	// "iommu", "mmio-nx", "msr-filtering", "mandatory", "vsm",
	// "microsoft-boot-chain").
	Required []string `json:"required"`
}

// Linux is what a Linux boot measured.
type Linux struct {
	// KernelCmdline is the last kernel command line GRUB measured (PCR 8
	// "kernel_cmdline: ..." EV_IPL); "" when none was.
	KernelCmdline string `json:"kernel_cmdline"`
}

// Problem is one reason with a stable code (the JSON contract) and a human
// reason naming what differed.
type Problem struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Problem and note codes.
const (
	CodeTPM12           = "tpm12-unsupported"
	CodeEvidence        = "evidence-invalid"
	CodeAKInvalid       = "ak-invalid"
	CodeAKParameters    = "ak-parameters"
	CodeAKNotBound      = "ak-not-bound"
	CodeEKMismatch      = "ek-mismatch"
	CodeNonceMismatch   = "nonce-mismatch"
	CodeQuoteSignature  = "quote-signature"
	CodeQuotePCRs       = "quote-pcrs"
	CodePCRNotQuoted    = "pcr-not-quoted"
	CodeNoQuote         = "no-quote"
	CodeLogParse        = "log-parse"
	CodeLogReplay       = "log-replay"
	CodeSecureBootParse = "secure-boot-parse"
	CodeWindowsParse    = "windows-events-parse"
	// Notes.
	CodeNonceUnchecked = "nonce-unchecked"
	CodeAKUnbound      = "ak-unbound"
	CodeQuoteUnchecked = "quote-unchecked"
)

// OK reports whether the attestation verified.
func (r *Result) OK() bool { return len(r.Problems) == 0 }

func (r *Result) fail(code, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Code: code, Reason: sprintf(format, args...)})
}

func (r *Result) note(code, format string, args ...any) {
	r.Notes = append(r.Notes, Problem{Code: code, Reason: sprintf(format, args...)})
}
