package guestboot_test

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-attestation/attest"

	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
)

func TestChoose(t *testing.T) {
	cases := []struct {
		name       string
		os         guestboot.OS
		secureBoot bool
		log        string
		substitute bool
	}{
		{"windows secure boot", guestboot.Windows, true, guestboot.LogWindowsSecureBoot, false},
		{"windows no secure boot", guestboot.Windows, false, guestboot.LogLinuxNoSecureBoot, true},
		{"linux secure boot", guestboot.Linux, true, guestboot.LogLinuxSecureBoot, false},
		{"linux no secure boot", guestboot.Linux, false, guestboot.LogLinuxNoSecureBoot, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := guestboot.Choose(c.os, c.secureBoot)
			if got.Log != c.log {
				t.Fatalf("Choose(%s, %v) = %s, want %s", c.os, c.secureBoot, got.Log, c.log)
			}
			if c.substitute && !strings.Contains(got.Note, "no real Windows event log") {
				t.Fatalf("a substitute log must say so: note %q", got.Note)
			}
			b, err := guestboot.New(got.Log, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sb := secureBootVar(t, b.Log); sb != c.secureBoot {
				t.Fatalf("log %s measures SecureBoot=%v, want %v", got.Log, sb, c.secureBoot)
			}
		})
	}
}

// secureBootVar reads the SecureBoot variable's value from a log's
// EV_EFI_VARIABLE_DRIVER_CONFIG event: UEFI_VARIABLE_DATA is a GUID, the name
// length and data length (uint64 each), the UTF-16 name, then the data.
func secureBootVar(t *testing.T, log []byte) bool {
	t.Helper()
	el, err := attest.ParseEventLog(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range el.Events(el.Algs[0]) {
		if e.Type != 0x80000001 || len(e.Data) < 32 {
			continue
		}
		n := int(e.Data[16])
		if len(e.Data) < 32+2*n {
			continue
		}
		name := make([]uint16, n)
		for i := range name {
			name[i] = uint16(e.Data[32+2*i]) | uint16(e.Data[33+2*i])<<8
		}
		if string(utf16.Decode(name)) == "SecureBoot" {
			data := e.Data[32+2*n:]
			return len(data) > 0 && data[0] == 1
		}
	}
	t.Fatal("the log has no SecureBoot variable event")
	return false
}

func TestOSOf(t *testing.T) {
	cases := []struct {
		publisher, offer, sku string
		want                  guestboot.OS
	}{
		{"microsoftwindowsdesktop", "windows-11", "win11-22h2-avd", guestboot.Windows},
		{"microsoftwindowsserver", "windowsserver", "2022-datacenter-azure-edition", guestboot.Windows},
		{"microsoftwindowsdesktop", "office-365", "win10-21h2-avd-m365-g2", guestboot.Windows},
		{"canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", guestboot.Linux},
		{"RedHat", "RHEL", "9-lvm-gen2", guestboot.Linux},
		{"", "", "", guestboot.Windows},
	}
	for _, c := range cases {
		if got := guestboot.OSOf(c.publisher, c.offer, c.sku); got != c.want {
			t.Errorf("OSOf(%s, %s, %s) = %s, want %s", c.publisher, c.offer, c.sku, got, c.want)
		}
	}
}

// TestWindowsBootMatchesTheRealMachine: folding the Windows log's digests
// gives, for every PCR the log measures, the SHA-1 PCR the real GCP Shielded
// VM reported with it.
func TestWindowsBootMatchesTheRealMachine(t *testing.T) {
	b, err := guestboot.New(guestboot.LogWindowsSecureBoot, nil)
	if err != nil {
		t.Fatal(err)
	}
	alg, recorded, ok := guestboot.RecordedPCRs(guestboot.LogWindowsSecureBoot)
	if !ok || alg != crypto.SHA1 {
		t.Fatalf("the Windows attestation carries no SHA-1 PCRs (%v, %v)", alg, ok)
	}
	got := b.Replay(crypto.SHA1)
	if len(got) < 8 {
		t.Fatalf("the Windows log measures only %d PCRs", len(got))
	}
	for pcr, v := range got {
		if !bytes.Equal(v, recorded[pcr]) {
			t.Errorf("PCR %d: replay %x, the real VM reported %x", pcr, v, recorded[pcr])
		}
	}
	if len(b.Replay(crypto.SHA256)) != 0 {
		t.Fatal("the SHA-1 Windows log produced SHA-256 values: they would be invented")
	}
}

// TestEveryLogVerifies: go-attestation's verifier accepts each boot's
// replayed PCRs for every bank the log has.
func TestEveryLogVerifies(t *testing.T) {
	for _, name := range guestboot.Names() {
		t.Run(name, func(t *testing.T) {
			b, err := guestboot.New(name, []string{`\EFI\extra\one.efi`})
			if err != nil {
				t.Fatal(err)
			}
			verify(t, b)
		})
	}
}

func verify(t *testing.T, b *guestboot.Boot) {
	t.Helper()
	el, err := attest.ParseEventLog(b.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range b.Algs {
		var pcrs []attest.PCR
		for i, v := range b.Replay(h) {
			pcrs = append(pcrs, attest.PCR{Index: i, Digest: v, DigestAlg: h})
		}
		if _, err := el.Verify(pcrs); err != nil {
			t.Fatalf("bank %v: %v", h, err)
		}
	}
}

func TestAppendComponent(t *testing.T) {
	const comp = `\EFI\evil\rootkit.efi`
	for _, name := range guestboot.Names() {
		t.Run(name, func(t *testing.T) {
			base, err := guestboot.New(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			tampered, err := guestboot.New(name, []string{comp})
			if err != nil {
				t.Fatal(err)
			}
			if len(tampered.Measurements) != len(base.Measurements)+1 {
				t.Fatalf("tampered boot has %d measurements, want %d", len(tampered.Measurements), len(base.Measurements)+1)
			}
			last := tampered.Measurements[len(tampered.Measurements)-1]
			if last.PCR != 4 || last.Type != 0x80000003 {
				t.Fatalf("the extra component went to PCR %d as type %#x, want PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION", last.PCR, last.Type)
			}
			for _, h := range tampered.Algs {
				x := h.New()
				x.Write([]byte(comp))
				if !bytes.Equal(last.Digests[h], x.Sum(nil)) {
					t.Errorf("bank %v: digest %x, want the hash of the name", h, last.Digests[h])
				}
				if bytes.Equal(base.Replay(h)[4], tampered.Replay(h)[4]) {
					t.Errorf("bank %v: PCR 4 did not change", h)
				}
				if !bytes.Equal(base.Replay(h)[7], tampered.Replay(h)[7]) {
					t.Errorf("bank %v: PCR 7 changed", h)
				}
			}
			if !bytes.Contains(tampered.Log, utf16le(comp)) {
				t.Error("the event's device path does not name the component")
			}
			verify(t, tampered)
		})
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func TestCheckComponent(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"path", `\EFI\Boot\extra.efi`, ""},
		{"unicode", `\EFI\bööt.efi`, ""},
		{"empty", "", "empty"},
		{"control", "a\x00b", "non-printable"},
		{"newline", "a\nb", "non-printable"},
		{"bad utf8", "\xff", "UTF-8"},
		{"long", strings.Repeat("a", guestboot.MaxComponent+1), "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := guestboot.CheckComponent(c.in)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("CheckComponent(%q) = %v, want %q", c.in, err, c.want)
			}
		})
	}
}

func TestNewUnknownLog(t *testing.T) {
	if _, err := guestboot.New("nope", nil); err == nil || !strings.Contains(err.Error(), guestboot.LogWindowsSecureBoot) {
		t.Fatalf("New(nope) = %v, want an error listing the logs", err)
	}
}

// FuzzAppendComponent: any name is refused or gives a log that parses, ends
// with a PCR 4 event hashing the name, and replays.
func FuzzAppendComponent(f *testing.F) {
	for _, s := range []string{`\EFI\x.efi`, "", "\x00", strings.Repeat("é", 300)} {
		f.Add(s, true)
	}
	base, err := guestboot.New(guestboot.LogLinuxSecureBoot, nil)
	if err != nil {
		f.Fatal(err)
	}
	win, err := guestboot.New(guestboot.LogWindowsSecureBoot, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, comp string, agile bool) {
		log := win.Log
		if agile {
			log = base.Log
		}
		out, err := guestboot.AppendComponent(log, comp)
		if err != nil {
			if guestboot.CheckComponent(comp) == nil {
				t.Fatalf("a valid name was refused: %v", err)
			}
			return
		}
		b, err := guestboot.Parse(out)
		if err != nil {
			t.Fatalf("appended log does not parse: %v", err)
		}
		last := b.Measurements[len(b.Measurements)-1]
		x := b.Algs[0].New()
		x.Write([]byte(comp))
		if last.PCR != 4 || hex.EncodeToString(last.Digests[b.Algs[0]]) != hex.EncodeToString(x.Sum(nil)) {
			t.Fatalf("last event %+v, want PCR 4 hashing %q", last, comp)
		}
		verify(t, b)
	})
}
