package guestboot

import (
	"bytes"
	"crypto"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-attestation/attest"
)

// OS is a guest's operating system family.
type OS string

// The operating systems a guest boots.
const (
	Windows OS = "Windows"
	Linux   OS = "Linux"
)

// Names of the embedded logs.
const (
	LogWindowsSecureBoot   = "windows_gcp_shielded_vm"
	LogLinuxSecureBoot     = "sb_cert"
	LogLinuxNoSecureBoot   = "ubuntu_2104_shielded_vm_no_secure_boot"
	evNoAction             = 0x00000003
	evBootServicesApp      = 0x80000003
	bootComponentPCR       = 4
	specIDSignature        = "Spec ID Event03"
	windowsSubstituteNote  = "no real Windows event log with Secure Boot off exists: the guest boots the Secure-Boot-off log of the same firmware (GCE virtual firmware, an Ubuntu guest)"
	windowsSHA1OnlyNote    = "the only real Windows event log is SHA-1 only: the SHA-256 bank keeps its reset values"
	linuxSecureBootLogNote = "an excerpt of a real Ubuntu shim boot (PCRs 0, 4, 5, 7)"
)

//go:embed eventlogs/windows_gcp_shielded_vm.json eventlogs/sb_cert_eventlog eventlogs/ubuntu_2104_shielded_vm_no_secure_boot_eventlog
var embedded embed.FS

var files = map[string]string{
	LogWindowsSecureBoot: "eventlogs/windows_gcp_shielded_vm.json",
	LogLinuxSecureBoot:   "eventlogs/sb_cert_eventlog",
	LogLinuxNoSecureBoot: "eventlogs/ubuntu_2104_shielded_vm_no_secure_boot_eventlog",
}

// Choice is the log a guest of an OS and Secure Boot state boots with.
type Choice struct {
	Log  string // a Log* name
	Note string // why, when the log is not a plain match; "" otherwise
}

// Choose picks the log for os (anything but Linux boots as Windows) and
// secureBoot; see the package doc for the table.
func Choose(os OS, secureBoot bool) Choice {
	switch {
	case os == Linux && secureBoot:
		return Choice{Log: LogLinuxSecureBoot, Note: linuxSecureBootLogNote}
	case os == Linux:
		return Choice{Log: LogLinuxNoSecureBoot}
	case secureBoot:
		return Choice{Log: LogWindowsSecureBoot, Note: windowsSHA1OnlyNote}
	default:
		return Choice{Log: LogLinuxNoSecureBoot, Note: windowsSubstituteNote}
	}
}

// linuxMarkers are words of marketplace publishers and offers of Linux images.
var linuxMarkers = []string{"linux", "ubuntu", "canonical", "redhat", "rhel", "suse", "sles", "debian", "centos", "almalinux", "rocky", "fedora", "coreos", "mariner", "azurelinux"}

// OSOf derives a guest's OS from its marketplace image identifier. Every image
// trusted launch on Azure Local supports is Windows (DESIGN §1.1), so an
// identifier that names no Linux distribution is Windows.
func OSOf(publisher, offer, sku string) OS {
	id := strings.ToLower(publisher + " " + offer + " " + sku)
	if strings.Contains(id, "windows") {
		return Windows
	}
	for _, m := range linuxMarkers {
		if strings.Contains(id, m) {
			return Linux
		}
	}
	return Windows
}

// windowsAttestation is the part of windows_gcp_shielded_vm.json used here:
// go-attestation's PlatformParameters JSON.
type windowsAttestation struct {
	Log struct {
		PCRs []struct {
			Index     int
			Digest    []byte
			DigestAlg crypto.Hash
		}
		Raw []byte
	}
}

// raw returns the log bytes of an embedded log.
func raw(name string) ([]byte, error) {
	path, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("guestboot: no event log %q: use one of %s", name, strings.Join(Names(), ", "))
	}
	b, err := embedded.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if name != LogWindowsSecureBoot {
		return b, nil
	}
	var wa windowsAttestation
	if err := json.Unmarshal(b, &wa); err != nil {
		return nil, fmt.Errorf("guestboot: %s: %w", path, err)
	}
	return wa.Log.Raw, nil
}

// Names lists the embedded logs, sorted.
func Names() []string {
	out := make([]string, 0, len(files))
	for n := range files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RecordedPCRs returns the PCRs the real machine of log reported with it
// (only the Windows attestation carries them), by index, and their hash.
func RecordedPCRs(log string) (crypto.Hash, map[int][]byte, bool) {
	if log != LogWindowsSecureBoot {
		return 0, nil, false
	}
	b, err := embedded.ReadFile(files[log])
	if err != nil {
		return 0, nil, false
	}
	var wa windowsAttestation
	if json.Unmarshal(b, &wa) != nil || len(wa.Log.PCRs) == 0 {
		return 0, nil, false
	}
	out := map[int][]byte{}
	for _, p := range wa.Log.PCRs {
		out[p.Index] = p.Digest
	}
	return wa.Log.PCRs[0].DigestAlg, out, true
}

// cryptoAgile reports whether a log is in the TCG crypto-agile format (its
// first event is the Spec ID event) rather than the SHA-1 format.
func cryptoAgile(log []byte) bool {
	const head = 32 + 4 + 16 // TCG_PCR_EVENT header, then the signature
	return len(log) >= head && bytes.Equal(log[32:32+len(specIDSignature)], []byte(specIDSignature))
}

func hashOf(a attest.HashAlg) (crypto.Hash, bool) {
	switch a {
	case attest.HashSHA1:
		return crypto.SHA1, true
	case attest.HashSHA256:
		return crypto.SHA256, true
	case attest.HashSHA384:
		return crypto.SHA384, true
	case attest.HashSHA512:
		return crypto.SHA512, true
	}
	return 0, false
}
