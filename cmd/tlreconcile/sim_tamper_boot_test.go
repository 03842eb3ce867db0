package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// guestPCR4 is what a command inside the VM's guest reads: its SHA-1 PCR 4
// and its TCG event log. The guest is Windows (every image trusted launch on
// Azure Local supports is), whose real event log is SHA-1 only
// (internal/sim/guestboot), so the SHA-1 bank is the one its boot measures.
func guestPCR4(t *testing.T, dir, vmID string) (pcr4, log []byte) {
	t.Helper()
	withHost(t, dir, func(h *cluster.Host) {
		err := h.InGuest(context.Background(), vmID, func(g *cluster.Guest) error {
			sel := tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA1, PCRSelect: tpm2.PCClientCompatible.PCRs(4)}}}
			rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(g.TPM())
			if err != nil {
				return err
			}
			pcr4, log = rsp.PCRValues.Digests[0].Buffer, g.EventLog()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	return pcr4, log
}

// replayPCR4 folds the SHA-1 digests of the log's PCR 4 events and returns
// the last of them.
func replayPCR4(t *testing.T, log []byte) (pcr4 []byte, last attest.Event) {
	t.Helper()
	el, err := attest.ParseEventLog(log)
	if err != nil {
		t.Fatal(err)
	}
	pcr4 = make([]byte, sha1.Size)
	for _, e := range el.Events(attest.HashSHA1) {
		if e.Index == 4 {
			sum := sha1.Sum(append(pcr4, e.Digest...))
			pcr4, last = sum[:], e
		}
	}
	return pcr4, last
}

// TestSimTamperBoot: the command plants the component, the running boot is
// untouched, and the VM's next boot measures it: PCR 4 changes, the guest's
// event log gains an EV_EFI_BOOT_SERVICES_APPLICATION event whose digest is
// the component's, and the log still replays to the PCR.
func TestSimTamperBoot(t *testing.T) {
	dir := t.TempDir()
	id := placeTL(t, dir, "avd-01")
	cleanPCR, cleanLog := guestPCR4(t, dir, id)
	const comp = `\EFI\Boot\bootkit.efi`
	out := mustSimCLI(t, dir, "sim", "tamper-boot", "--vm", "avd-01", "--component", comp)
	if want := "vm/avd-01: boot component " + comp + " planted; the VM stays Running, its next boot measures it into PCR 4\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	if pcr, log := guestPCR4(t, dir, id); !bytes.Equal(pcr, cleanPCR) || !bytes.Equal(log, cleanLog) {
		t.Fatal("tamper-boot changed the running boot; only the next boot may measure the component")
	}
	withHost(t, dir, func(h *cluster.Host) {
		if err := h.RestartVM(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	})
	pcr, log := guestPCR4(t, dir, id)
	if bytes.Equal(pcr, cleanPCR) {
		t.Fatal("PCR 4 did not change after the restart")
	}
	if len(log) <= len(cleanLog) || !bytes.Equal(log[:len(cleanLog)], cleanLog) {
		t.Fatal("the event log after the restart is not the clean log plus events")
	}
	replayed, last := replayPCR4(t, log)
	if !bytes.Equal(replayed, pcr) {
		t.Fatalf("the log replays PCR 4 to %x, the vTPM holds %x", replayed, pcr)
	}
	if want := sha1.Sum([]byte(comp)); last.Type.String() != "EV_EFI_BOOT_SERVICES_APPLICATION" || !bytes.Equal(last.Digest, want[:]) {
		t.Fatalf("last PCR 4 event %v digest %x, want EV_EFI_BOOT_SERVICES_APPLICATION of %s (%x)", last.Type, last.Digest, comp, want)
	}
}

// TestSimTamperBootRefuses: the Arc resource bridge, a VM without a vTPM and
// an unknown VM are refused with an error that says why, and nothing is
// printed; bad flags are refused before the state dir is opened.
func TestSimTamperBootRefuses(t *testing.T) {
	dir := t.TempDir()
	placeTL(t, dir, "avd-01")
	mustSimCLI(t, dir, "sim", "local-vm", "--vm", "legacy-01", "--node", "node1")
	cases := []struct {
		name string
		vm   string
		is   error
		text string
	}{
		{"resource bridge", "sim-cluster-arcbridge", cluster.ErrInfrastructure, "resource bridge"},
		{"no vTPM", "legacy-01", cluster.ErrInvalidState, "no vTPM"},
		{"unknown VM", "nope", nil, `vm "nope": no such VM on the simulated Azure Local; there are: `},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := simCLI(t, dir, "sim", "tamper-boot", "--vm", tc.vm, "--component", `\EFI\Boot\x.efi`)
			if err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) || out != "" {
				t.Fatalf("error %v, output %q; want %v mentioning %q and no output", err, out, tc.is, tc.text)
			}
		})
	}

	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no VM", []string{"--component", `\x.efi`}, "--vm NAME --component PATH"},
		{"no component", []string{"--vm", "avd-01"}, "--vm NAME --component PATH"},
		{"control character", []string{"--vm", "avd-01", "--component", "a\x1bb.efi"}, "non-printable"},
		{"too long", []string{"--vm", "avd-01", "--component", strings.Repeat("a", 5000)}, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := simCLI(t, empty, append([]string{"sim", "tamper-boot"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
				t.Fatalf("error %v, output %q; want an error mentioning %q and no output", err, out, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("Validate opened the state dir: %v", ents)
	}
}
