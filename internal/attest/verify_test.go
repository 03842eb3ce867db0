package attest_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// sha1Event finds, in a SHA-1 format (TCG 1.2 style) log, the first event
// of the given PCR and type and returns the offsets of its digest and data.
func sha1Event(t *testing.T, log []byte, pcr, typ uint32) (digest, data int) {
	t.Helper()
	for off := 0; off+32 <= len(log); {
		size := int(binary.LittleEndian.Uint32(log[off+28:]))
		if binary.LittleEndian.Uint32(log[off:]) == pcr && binary.LittleEndian.Uint32(log[off+4:]) == typ {
			return off + 8, off + 32
		}
		off += 32 + size
	}
	t.Fatalf("no event of PCR %d type %#x in the log", pcr, typ)
	return 0, 0
}

func clone(ev attest.Evidence) attest.Evidence {
	ev.EventLog = bytes.Clone(ev.EventLog)
	pcrs := make([]attest.PCR, len(ev.PCRs))
	for i, p := range ev.PCRs {
		p.Digest = bytes.Clone(p.Digest)
		pcrs[i] = p
	}
	ev.PCRs = pcrs
	return ev
}

func TestVerifyWindowsGCP(t *testing.T) {
	r, err := attest.Verify(windowsEvidence(t), attest.VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.QuoteOK || !r.LogReplayOK || r.Mode != attest.ModeQuote {
		t.Fatalf("quote %v replay %v mode %s, want a verified quote", r.QuoteOK, r.LogReplayOK, r.Mode)
	}
	sb := r.SecureBoot
	if !sb.Enabled || len(sb.DB) != 3 || sb.DBXHashes != 77 {
		t.Errorf("secure boot %+v: want enabled, 3 db entries, 77 dbx hashes", sb)
	}
	w := r.Windows
	if w == nil {
		t.Fatal("no Windows state from a Windows log")
	}
	if w.CodeIntegrity != "on" || w.DEP != "on" || w.TestSigning || w.BootDebugging || w.KernelDebugging {
		t.Errorf("windows %+v: want code integrity and DEP on, no test signing, no debugging", w)
	}
	if r.BootManager != `\EFI\Microsoft\Boot\bootmgfw.efi` || len(w.BootApps) != 1 || w.BootApps[0] != `\Windows\system32\winload.efi` {
		t.Errorf("boot manager %q, windows boot apps %q", r.BootManager, w.BootApps)
	}
	if w.VBS.Running || w.VBS.HypervisorLaunched || w.VBS.VSMLaunched {
		t.Errorf("vbs %+v: this GCP VM measured hypervisor and VSM launch type 0 (off)", w.VBS)
	}
	if len(w.ELAM) != 1 || w.ELAM[0] != "Windows Defender" || w.LoadedModules != 64 {
		t.Errorf("elam %q modules %d", w.ELAM, w.LoadedModules)
	}
	codes := map[string]bool{}
	for _, n := range r.Notes {
		codes[n.Code] = true
	}
	if !codes[attest.CodeNonceUnchecked] || !codes[attest.CodeAKUnbound] {
		t.Errorf("notes %+v: want nonce-unchecked and ak-unbound (the file has neither nonce nor EK)", r.Notes)
	}
}

func TestVerifyFailures(t *testing.T) {
	base := windowsEvidence(t)
	dig, data := sha1Event(t, base.EventLog, 7, 0x80000001) // EV_EFI_VARIABLE_DRIVER_CONFIG
	tpm12, err := os.ReadFile("testdata/linux_tpm12.json")
	if err != nil {
		t.Fatal(err)
	}
	ev12, err := attest.ParseBytes(tpm12)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		ev     attest.Evidence
		opts   attest.VerifyOptions
		code   string
		reason string
	}{
		{"pcr changed", mutate(base, func(e *attest.Evidence) { pcr(e, 7).Digest[0] ^= 1 }), attest.VerifyOptions{}, attest.CodeQuotePCRs, "quote digest didn't match"},
		{"pcr changed names the pcr", mutate(base, func(e *attest.Evidence) { pcr(e, 7).Digest[0] ^= 1 }), attest.VerifyOptions{}, attest.CodeLogReplay, "PCR 7 does not match its events (sha1: the event log replays to"},
		{"event digest byte", mutate(base, func(e *attest.Evidence) { e.EventLog[dig+3] ^= 0x80 }), attest.VerifyOptions{}, attest.CodeLogReplay, "PCR 7 does not match"},
		{"event data byte", mutate(base, func(e *attest.Evidence) { e.EventLog[data+20] ^= 0x01 }), attest.VerifyOptions{}, attest.CodeSecureBootParse, "PCR 7"},
		{"signature", mutate(base, func(e *attest.Evidence) { e.Quotes[0].Signature[10] ^= 1 }), attest.VerifyOptions{}, attest.CodeQuoteSignature, "invalid quote signature"},
		{"nonce", base, attest.VerifyOptions{Nonce: []byte("fresh")}, attest.CodeNonceMismatch, "carries nonce , the verifier expected 6672657368"},
		{"recorded ak differs", base, attest.VerifyOptions{RecordedAK: []byte{1, 2, 3}}, attest.CodeAKNotBound, "recorded at first contact is 039058c6"},
		{"expected ek", base, attest.VerifyOptions{ExpectedEK: "abc"}, attest.CodeEKMismatch, "none (no ek_public)"},
		{"no quote", mutate(base, func(e *attest.Evidence) { e.Quotes = nil }), attest.VerifyOptions{}, attest.CodeNoQuote, "no quote"},
		{"pcr not quoted", mutate(base, func(e *attest.Evidence) {
			e.PCRs = append(e.PCRs, attest.PCR{Index: 0, Alg: attest.AlgSHA256, Digest: make([]byte, 32)})
		}), attest.VerifyOptions{}, attest.CodePCRNotQuoted, "0 (sha256)"},
		{"tpm 1.2", *ev12, attest.VerifyOptions{}, attest.CodeTPM12, "TPM 1.x: trusted launch needs TPM 2.0"},
		{"no log", mutate(base, func(e *attest.Evidence) { e.EventLog = nil }), attest.VerifyOptions{}, attest.CodeLogParse, "no event_log"},
		{"garbage log", mutate(base, func(e *attest.Evidence) { e.EventLog = []byte{1, 2, 3} }), attest.VerifyOptions{}, attest.CodeLogParse, "does not parse"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := attest.Verify(c.ev, c.opts)
			if !errors.Is(err, attest.ErrFailed) {
				t.Fatalf("Verify = %v, want a failed attestation", err)
			}
			for _, p := range r.Problems {
				if p.Code == c.code && strings.Contains(p.Reason, c.reason) {
					return
				}
			}
			t.Fatalf("problems %+v: want %s containing %q", r.Problems, c.code, c.reason)
		})
	}
}

func mutate(ev attest.Evidence, f func(*attest.Evidence)) attest.Evidence {
	c := clone(ev)
	q := make([]attest.Quote, len(ev.Quotes))
	for i, x := range ev.Quotes {
		x.Signature = bytes.Clone(x.Signature)
		q[i] = x
	}
	c.Quotes = q
	f(&c)
	return c
}

func pcr(e *attest.Evidence, idx int) *attest.PCR {
	for i := range e.PCRs {
		if e.PCRs[i].Index == idx {
			return &e.PCRs[i]
		}
	}
	panic("no such PCR")
}

func TestVerifyRawLinuxLogs(t *testing.T) {
	cases := []struct {
		file, cmdline string
	}{
		{"ubuntu_2104_shielded_vm_no_secure_boot_eventlog", "root=PARTUUID=6443a6ae"},
		{"coreos_36_shielded_vm_no_secure_boot_eventlog", "ignition"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			ev, raw, err := attest.ParseAny(readShared(t, c.file))
			if err != nil || !raw {
				t.Fatalf("ParseAny: raw %v, %v", raw, err)
			}
			if _, err := attest.Verify(*ev, attest.VerifyOptions{}); !errors.Is(err, attest.ErrFailed) {
				t.Fatalf("a raw log without LogOnly verified: %v", err)
			}
			r, err := attest.Verify(*ev, attest.VerifyOptions{LogOnly: true})
			if err != nil {
				t.Fatalf("Verify log-only: %v", err)
			}
			if r.Mode != attest.ModeLogOnly || r.QuoteOK || !r.LogReplayOK || r.SecureBoot.Enabled {
				t.Fatalf("mode %s quote %v replay %v secure boot %v: want log-only, unquoted, replayed, Secure Boot off", r.Mode, r.QuoteOK, r.LogReplayOK, r.SecureBoot.Enabled)
			}
			if r.Linux == nil || !strings.Contains(r.Linux.KernelCmdline, c.cmdline) {
				t.Fatalf("linux %+v: want a kernel command line containing %q", r.Linux, c.cmdline)
			}
			if r.Windows != nil || len(r.BootApps) == 0 {
				t.Fatalf("windows %+v boot apps %q", r.Windows, r.BootApps)
			}
			t.Logf("boot apps %q cmdline %q", r.BootApps, r.Linux.KernelCmdline)
		})
	}
}

func BenchmarkVerifyWindows(b *testing.B) {
	ev := windowsEvidence(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := attest.Verify(ev, attest.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
