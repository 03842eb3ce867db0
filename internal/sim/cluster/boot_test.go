package cluster_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

var (
	windowsImage = arm.ImageIdentifier{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", SKU: "win11-22h2-avd"}
	linuxImage   = arm.ImageIdentifier{Publisher: "canonical", Offer: "0001-com-ubuntu-server-jammy", SKU: "22_04-lts-gen2"}
)

// place creates a running trusted-launch VM of image through the Host.
func place(t *testing.T, h *cluster.Host, name string, image arm.ImageIdentifier) string {
	t.Helper()
	pl, err := h.PlaceVM(context.Background(), arm.PlaceRequest{MachineID: "/m/" + name, CustomLocation: arm.DefaultCustomLocation,
		ComputerName: name, Image: image, Hardware: arm.Hardware{Processors: 2, MemoryMB: 4096},
		Security: arm.Security{Type: "TrustedLaunch", TPM: true, SecureBoot: true}})
	if err != nil {
		t.Fatal(err)
	}
	return pl.VMID
}

// guestView is what a command inside a guest read: its log and every PCR of
// the SHA-1 and SHA-256 banks.
type guestView struct {
	log  []byte
	os   string
	pcrs map[crypto.Hash][24][]byte
}

func readGuest(t *testing.T, h *cluster.Host, vmID string) guestView {
	t.Helper()
	var v guestView
	err := h.InGuest(context.Background(), vmID, func(g *cluster.Guest) error {
		v.log, v.os, v.pcrs = g.EventLog(), g.OS, map[crypto.Hash][24][]byte{}
		for h, alg := range map[crypto.Hash]tpm2.TPMAlgID{crypto.SHA1: tpm2.TPMAlgSHA1, crypto.SHA256: tpm2.TPMAlgSHA256} {
			var bank [24][]byte
			for pcr := range 24 {
				sel := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: alg, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(pcr))}}}
				rsp, err := (tpm2.PCRRead{PCRSelectionIn: sel}).Execute(g.TPM())
				if err != nil {
					return err
				}
				bank[pcr] = rsp.PCRValues.Digests[0].Buffer
			}
			v.pcrs[h] = bank
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkReplay: the PCRs equal the fold of the log's digests (zeros where the
// log measures nothing), and go-attestation's verifier accepts them.
func checkReplay(t *testing.T, v guestView) {
	t.Helper()
	b, err := guestboot.Parse(v.log)
	if err != nil {
		t.Fatal(err)
	}
	el, err := attest.ParseEventLog(v.log)
	if err != nil {
		t.Fatal(err)
	}
	var pcrs []attest.PCR
	for h, bank := range v.pcrs {
		want := b.Replay(h)
		for i, got := range bank {
			w, ok := want[i]
			if !ok {
				w = resetValue(i, h)
			}
			if !bytes.Equal(got, w) {
				t.Errorf("bank %v PCR %d = %x, the log replays to %x", h, i, got, w)
			}
			pcrs = append(pcrs, attest.PCR{Index: i, Digest: got, DigestAlg: h})
		}
	}
	// Both banks at once, as a quote of each reaches the verifier: a PCR is
	// verified when one bank replays (the Windows log has SHA-1 only).
	if _, err := el.Verify(pcrs); err != nil {
		t.Errorf("go-attestation does not replay the log against the vTPM: %v", err)
	}
}

// resetValue is a PCR's value after TPM2_Startup(CLEAR): zeros, except the
// dynamic-launch PCRs 17-22, which hold all ones until a DRTM event (PC
// Client Platform TPM Profile).
func resetValue(pcr int, h crypto.Hash) []byte {
	b := make([]byte, h.Size())
	if pcr >= 17 && pcr <= 22 {
		for i := range b {
			b[i] = 0xff
		}
	}
	return b
}

// TestStartBootsTheGuest: after the create (a start), a restart and a
// stop/start, the vTPM's PCRs are the replay of the log the guest reads,
// chosen by the image's OS; the Windows guest's SHA-1 PCRs are those of the
// real machine the log comes from.
func TestStartBootsTheGuest(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	cases := []struct {
		name  string
		image arm.ImageIdentifier
		os    string
		log   string
	}{
		{"windows", windowsImage, "Windows", guestboot.LogWindowsSecureBoot},
		{"linux", linuxImage, "Linux", guestboot.LogLinuxSecureBoot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := place(t, h, c.name, c.image)
			first := readGuest(t, h, id)
			want, err := guestboot.New(c.log, nil)
			if err != nil {
				t.Fatal(err)
			}
			if first.os != c.os || !bytes.Equal(first.log, want.Log) {
				t.Fatalf("guest OS %s with a %d-byte log, want %s booting %s", first.os, len(first.log), c.os, c.log)
			}
			checkReplay(t, first)
			if bytes.Equal(first.pcrs[crypto.SHA1][7], make([]byte, 20)) {
				t.Fatal("PCR 7 was never extended")
			}
			if err := h.RestartVM(ctx, id); err != nil {
				t.Fatal(err)
			}
			again := readGuest(t, h, id)
			if err := h.StopVM(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := h.StartVM(ctx, id); err != nil {
				t.Fatal(err)
			}
			for step, v := range map[string]guestView{"restart": again, "stop/start": readGuest(t, h, id)} {
				if !samePCRs(first, v) || !bytes.Equal(first.log, v.log) {
					t.Errorf("after %s the guest booted differently", step)
				}
			}
		})
	}
	t.Run("windows matches the real machine", func(t *testing.T) {
		v := readGuest(t, h, place(t, h, "win2", windowsImage))
		_, real, _ := guestboot.RecordedPCRs(guestboot.LogWindowsSecureBoot)
		for _, pcr := range []int{0, 4, 5, 7, 11, 12, 13, 14} {
			if !bytes.Equal(v.pcrs[crypto.SHA1][pcr], real[pcr]) {
				t.Errorf("SHA-1 PCR %d = %x, the real GCP Shielded VM reported %x", pcr, v.pcrs[crypto.SHA1][pcr], real[pcr])
			}
		}
	})
}

func samePCRs(a, b guestView) bool {
	for h, bank := range a.pcrs {
		for i := range bank {
			if !bytes.Equal(bank[i], b.pcrs[h][i]) {
				return false
			}
		}
	}
	return true
}

// TestGuestsAreIndependent: booting one guest does not change another's
// PCRs, and two guests of one image have the same PCRs but different EKs.
func TestGuestsAreIndependent(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	a := place(t, h, "a", windowsImage)
	before := readGuest(t, h, a)
	b := place(t, h, "b", linuxImage)
	c := place(t, h, "c", windowsImage)
	if err := h.TamperBoot(ctx, c, `\EFI\x.efi`); err != nil {
		t.Fatal(err)
	}
	if err := h.RestartVM(ctx, c); err != nil {
		t.Fatal(err)
	}
	if after := readGuest(t, h, a); !samePCRs(before, after) {
		t.Fatal("booting other guests changed the PCRs of guest a")
	}
	if samePCRs(before, readGuest(t, h, b)) {
		t.Fatal("a Windows and a Linux guest have the same PCRs")
	}
	st := observe(t, h, "sim-cluster")
	if vmByName(t, st, "a").Identity == vmByName(t, st, "c").Identity {
		t.Fatal("two guests share an EK")
	}
}

// TestTamperBoot: a planted component changes PCR 4 and the log at the next
// boot, not before; the log still replays; the tamper survives a reopen.
func TestTamperBoot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tpm := vtpm.NewReference()
	t.Cleanup(func() { _ = tpm.Close() })
	h := openHost(t, dir, cluster.Options{TPM: tpm})
	id := place(t, h, "v", linuxImage)
	clean := readGuest(t, h, id)
	const comp = `\EFI\ubuntu\bootkit.efi`
	if err := h.TamperBoot(ctx, id, comp); err != nil {
		t.Fatal(err)
	}
	if !samePCRs(clean, readGuest(t, h, id)) {
		t.Fatal("the tamper changed the running boot")
	}
	if err := h.RestartVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	tampered := readGuest(t, h, id)
	checkReplay(t, tampered)
	for _, hh := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		if bytes.Equal(clean.pcrs[hh][4], tampered.pcrs[hh][4]) {
			t.Errorf("bank %v: PCR 4 did not change", hh)
		}
		for _, pcr := range []int{0, 5, 7} {
			if !bytes.Equal(clean.pcrs[hh][pcr], tampered.pcrs[hh][pcr]) {
				t.Errorf("bank %v: PCR %d changed", hh, pcr)
			}
		}
	}
	if len(tampered.log) <= len(clean.log) || !bytes.Equal(tampered.log[:len(clean.log)], clean.log) {
		t.Fatal("the tampered log is not the clean log plus an event")
	}
	h2 := openHost(t, dir, cluster.Options{TPM: tpm})
	if err := h2.RestartVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !samePCRs(tampered, readGuest(t, h2, id)) {
		t.Fatal("after a reopen and a restart the tamper is gone")
	}
}

func TestTamperBootRefuses(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	id := place(t, h, "v", windowsImage)
	local, err := h.CreateLocalVM(ctx, "sim-cluster", "node1", "local")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, vm, comp string
		want           error
		text           string
	}{
		{"empty component", id, "", nil, "empty"},
		{"control character", id, "a\tb", nil, "non-printable"},
		{"no such vm", "00000000-0000-4000-8000-000000000000", `\x.efi`, cluster.ErrNotFound, ""},
		{"no vTPM", local, `\x.efi`, cluster.ErrInvalidState, "no vTPM"},
		{"resource bridge", bridge(t, observe(t, h, "sim-cluster")).VMID, `\x.efi`, cluster.ErrInfrastructure, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := h.TamperBoot(ctx, c.vm, c.comp)
			if err == nil || c.want != nil && !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("TamperBoot: %v, want %v %q", err, c.want, c.text)
			}
		})
	}
}

// TestFailoverBootsTheGuest: a VM that fails over boots again on the other
// node and its PCRs still replay its log.
func TestFailoverBootsTheGuest(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	id := place(t, h, "v", windowsImage)
	if err := h.TamperBoot(ctx, id, `\EFI\planted.efi`); err != nil {
		t.Fatal(err)
	}
	before := readGuest(t, h, id)
	vm, err := h.VM(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.FailNode(ctx, "sim-cluster", vm.Node); err != nil {
		t.Fatal(err)
	}
	after := readGuest(t, h, id)
	checkReplay(t, after)
	if samePCRs(before, after) {
		t.Fatal("the failover did not boot the guest: the planted component was not measured")
	}
}
