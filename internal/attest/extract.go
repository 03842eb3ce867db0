package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	ga "github.com/google/go-attestation/attest"
)

const (
	evIPL                    = 0x0000000d // EV_IPL
	evEFIBootServicesApp     = 0x80000003 // EV_EFI_BOOT_SERVICES_APPLICATION
	devicePathMedia          = 0x04
	devicePathMediaFilePath  = 0x04
	devicePathEnd            = 0x7f
	imageLoadEventHeaderSize = 32 // UEFI_IMAGE_LOAD_EVENT before DevicePath
)

// extract reads the boot from verified events.
func extract(r *Result, events []ga.Event) {
	extractSecureBoot(r, events)
	r.BootApps = bootApps(events)
	if len(r.BootApps) > 0 {
		r.BootManager = r.BootApps[0]
	}
	if isWindows(events) {
		w, err := extractWindows(events)
		if err != nil {
			r.fail(CodeWindowsParse, "the Windows boot events (PCRs 12-13) do not parse: %v", err)
		} else {
			r.Windows = w
		}
	}
	if l := extractLinux(events); l != nil {
		r.Linux = l
	}
}

func extractSecureBoot(r *Result, events []ga.Event) {
	sb, err := ga.ParseSecurebootState(events)
	if err != nil {
		r.fail(CodeSecureBootParse, "the Secure Boot events (PCR 7) do not match their digests or do not parse: %v", err)
		return
	}
	r.SecureBoot = SecureBoot{
		Enabled:     sb.Enabled,
		PK:          append(subjects(sb.PlatformKeys), hashNames(sb.PlatformKeyHashes)...),
		KEK:         len(sb.ExchangeKeys) + len(sb.ExchangeKeyHashes),
		DB:          subjects(sb.PermittedKeys),
		DBHashes:    len(sb.PermittedHashes),
		DBXCerts:    len(sb.ForbiddenKeys),
		DBXHashes:   len(sb.ForbiddenHashes),
		Authorities: subjects(append(append([]x509.Certificate{}, sb.PreSeparatorAuthority...), sb.PostSeparatorAuthority...)),
	}
}

func subjects(certs []x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		name := c.Subject.CommonName
		if name == "" {
			name = c.Subject.String()
		}
		out = append(out, name)
	}
	return out
}

func hashNames(hs [][]byte) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, fmt.Sprintf("sha256:%x", h))
	}
	return out
}

// bootApps lists the EFI applications of PCR 4 in order.
func bootApps(events []ga.Event) []string {
	out := []string{}
	for _, e := range events {
		if e.Index != 4 || e.Type != evEFIBootServicesApp {
			continue
		}
		if p := imagePath(e.Data); p != "" {
			out = append(out, p)
		} else {
			out = append(out, fmt.Sprintf("digest:%x", e.Digest))
		}
	}
	return out
}

// imagePath returns the file path in a UEFI_IMAGE_LOAD_EVENT's device path,
// "" when it has none or does not parse.
func imagePath(b []byte) string {
	if len(b) < imageLoadEventHeaderSize {
		return ""
	}
	n := binary.LittleEndian.Uint64(b[24:])
	dp := b[imageLoadEventHeaderSize:]
	if n < uint64(len(dp)) {
		dp = dp[:n]
	}
	var parts []string
	for len(dp) >= 4 {
		typ, sub, size := dp[0], dp[1], int(binary.LittleEndian.Uint16(dp[2:]))
		if size < 4 || size > len(dp) || typ == devicePathEnd {
			break
		}
		if typ == devicePathMedia && sub == devicePathMediaFilePath {
			if s, err := utf16String(dp[4:size]); err == nil && s != "" {
				parts = append(parts, s)
			}
		}
		dp = dp[size:]
	}
	return strings.Join(parts, "")
}

func isWindows(events []ga.Event) bool {
	for _, e := range events {
		if (e.Index == 12 || e.Index == 13) && e.Type == evSeparator && bytes.Equal(e.Data, []byte("WBCL")) {
			return true
		}
	}
	return false
}

// extractLinux finds the kernel command line GRUB measured into PCR 8.
func extractLinux(events []ga.Event) *Linux {
	var l *Linux
	for _, e := range events {
		if e.Index != 8 || e.Type != evIPL {
			continue
		}
		s := string(bytes.TrimRight(e.Data, "\x00"))
		switch {
		case strings.HasPrefix(s, "kernel_cmdline: "):
			l = &Linux{KernelCmdline: strings.TrimPrefix(s, "kernel_cmdline: ")}
		case strings.HasPrefix(s, "grub_cmd: ") && l == nil:
			l = &Linux{}
		}
	}
	return l
}

// ternary renders go-attestation's Ternary.
func ternary(t ga.Ternary) string {
	switch t {
	case ga.TernaryTrue:
		return "on"
	case ga.TernaryFalse:
		return "off"
	}
	return "unknown"
}

var bitlockerMethods = []struct {
	bit  ga.BitlockerStatus
	name string
}{
	{ga.BitlockerStatusCached, "cached"}, {ga.BitlockerStatusMedia, "media"}, {ga.BitlockerStatusTPM, "tpm"},
	{ga.BitlockerStatusPin, "pin"}, {ga.BitlockerStatusExternal, "external"}, {ga.BitlockerStatusRecovery, "recovery"},
}

func bitlocker(s ga.BitlockerStatus) []string {
	out := []string{}
	for _, m := range bitlockerMethods {
		if s&m.bit != 0 {
			out = append(out, m.name)
		}
	}
	if len(out) == 0 {
		out = append(out, "none")
	}
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
