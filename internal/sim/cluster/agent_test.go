package cluster_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// TestDefaultAgent runs each documented command of the default agent in a
// running guest.
func TestDefaultAgent(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	id := place(t, h, "avd-01", windowsImage)
	identity := vmByName(t, observe(t, h, "sim-cluster"), "avd-01").Identity
	clean := readGuest(t, h, id)
	var pcrLines strings.Builder
	for i := range vtpm.PCRCount {
		fmt.Fprintf(&pcrLines, "%d %x\n", i, clean.pcrs[crypto.SHA256][i])
	}
	cases := []struct {
		name, script, commandID string
		code                    int
		stdout, stderr          string
	}{
		{"hostname", "hostname", "", 0, "avd-01\n", ""},
		{"echo", "echo hello   world", "", 0, "hello world\n", ""},
		{"tpm-ek is the observed identity", "tpm-ek", "", 0, identity + "\n", ""},
		{"tpm-pcrs", "tpm-pcrs", "", 0, pcrLines.String(), ""},
		{"command id when no script", "", "hostname", 0, "avd-01\n", ""},
		{"lines and comments", "# who\nhostname\r\n\necho ok", "", 0, "avd-01\nok\n", ""},
		{"not found", "Get-Process", "", 127, "", "Get-Process: command not found\n"},
		{"stops at the first failure", "echo a\nnope\necho b", "", 127, "a\n", "nope: command not found\n"},
		{"no interpolation", "echo $name", "", 0, "$name\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := h.RunCommand(ctx, arm.RunCommandRequest{VMID: id, Name: "cmd", Script: c.script, CommandID: c.commandID,
				Parameters: map[string]string{"name": "injected"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != c.code || res.Output != c.stdout || res.Error != c.stderr {
				t.Fatalf("got exit %d stdout %q stderr %q, want %d %q %q", res.ExitCode, res.Output, res.Error, c.code, c.stdout, c.stderr)
			}
		})
	}
}

// TestRunCommandNeedsARunningGuest: a stopped VM, the resource bridge and a
// VM without a vTPM get what a shell in them would, or an ARM failure.
func TestRunCommandNeedsARunningGuest(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	id := place(t, h, "v", windowsImage)
	if err := h.StopVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.RunCommand(ctx, arm.RunCommandRequest{VMID: id, Script: "hostname"}); !errors.Is(err, cluster.ErrInvalidState) || !strings.Contains(err.Error(), "start it first") {
		t.Fatalf("run command in a stopped VM: %v, want ErrInvalidState saying to start it", err)
	}
	local, err := h.CreateLocalVM(ctx, "sim-cluster", "node1", "local")
	if err != nil {
		t.Fatal(err)
	}
	res := cluster.RunResult{}
	err = h.InGuest(ctx, local, func(g *cluster.Guest) error {
		var err error
		res, err = cluster.DefaultAgent{}.Run(ctx, g, cluster.RunRequest{Script: "tpm-ek"})
		return err
	})
	if err != nil || res.ExitCode != 1 || !strings.Contains(res.Stderr, "no TPM") {
		t.Fatalf("tpm-ek in a VM without a vTPM: %+v %v", res, err)
	}
}

// TestGuestKeepsSurviveCommands: what a command keeps is sealed with the
// vTPM state (the state file changes, the identity does not) and the next
// command reads it; a vTPM reset loses it.
func TestGuestKeepsSurviveCommands(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	id := place(t, h, "v", linuxImage)
	before, err := h.VM(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("ak blob only this vTPM can load")
	if err := h.InGuest(ctx, id, func(g *cluster.Guest) error { return g.Keep("ak", blob) }); err != nil {
		t.Fatal(err)
	}
	after, err := h.VM(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.GuestStateFile == before.GuestStateFile || after.Identity != before.Identity {
		t.Fatalf("keep: state file %s -> %s, identity %s -> %s: want a new state file and the same identity",
			before.GuestStateFile, after.GuestStateFile, before.Identity, after.Identity)
	}
	read := func() ([]byte, bool) {
		var got []byte
		var ok bool
		if err := h.InGuest(ctx, id, func(g *cluster.Guest) error { got, ok = g.Kept("ak"); return nil }); err != nil {
			t.Fatal(err)
		}
		return got, ok
	}
	if got, ok := read(); !ok || !bytes.Equal(got, blob) {
		t.Fatalf("the next command reads %q (%v), want %q", got, ok, blob)
	}
	if err := h.InGuest(ctx, id, func(g *cluster.Guest) error { return g.Keep("big", make([]byte, cluster.MaxKept+1)) }); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("keeping more than MaxKept: %v", err)
	}
	if err := h.DeleteKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.RestartVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := read(); ok {
		t.Fatal("a new vTPM still has the old one's kept blob")
	}
}

// TestGoAttestationInTheGuest is the attestation issue's agent in
// miniature: go-attestation opens the guest's vTPM through its command
// channel, makes an AK and a platform attestation; the quote verifies with
// the nonce, the log replays against the quoted PCRs, and the EK it reads is
// the identity Observe reports.
func TestGoAttestationInTheGuest(t *testing.T) {
	ctx := context.Background()
	h := openHost(t, t.TempDir(), cluster.Options{})
	for _, img := range map[string]arm.ImageIdentifier{"windows": windowsImage, "linux": linuxImage} {
		id := place(t, h, img.Offer, img)
		if err := h.TamperBoot(ctx, id, `\EFI\planted.efi`); err != nil {
			t.Fatal(err)
		}
		if err := h.RestartVM(ctx, id); err != nil {
			t.Fatal(err)
		}
		identity := vmByName(t, observe(t, h, "sim-cluster"), img.Offer).Identity
		nonce := []byte("a fresh nonce from the verifier")
		var pp *attest.PlatformParameters
		var akp attest.AttestationParameters
		var ek string
		err := h.InGuest(ctx, id, func(g *cluster.Guest) error {
			ch, ok := g.Channel().(attest.CommandChannelTPM20)
			if !ok {
				t.Fatal("the guest's channel is not a go-attestation command channel")
			}
			tpm, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: ch})
			if err != nil {
				return err
			}
			defer tpm.Close()
			ak, err := tpm.NewAK(nil)
			if err != nil {
				return err
			}
			defer ak.Close(tpm)
			akp = ak.AttestationParameters()
			if pp, err = tpm.AttestPlatform(ak, nonce, nil); err != nil {
				return err
			}
			ek, err = vtpm.EKFingerprint(transport.FromReadWriter(g.Channel()), vtpm.ECC)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if ek != identity {
			t.Fatalf("%s: the EK through the channel is %s, Observe reports %s", img.Offer, ek, identity)
		}
		pub, err := attest.ParseAKPublic(akp.Public)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range pp.Quotes {
			if err := pub.Verify(q, pp.PCRs, nonce); err != nil {
				t.Fatalf("%s: quote does not verify: %v", img.Offer, err)
			}
		}
		el, err := attest.ParseEventLog(pp.EventLog)
		if err != nil {
			t.Fatal(err)
		}
		events, err := el.Verify(pp.PCRs)
		if err != nil {
			t.Fatalf("%s: the log does not replay against the quoted PCRs: %v", img.Offer, err)
		}
		if !planted(events) {
			t.Fatalf("%s: the verified events do not show the planted component", img.Offer)
		}
	}
}

func planted(events []attest.Event) bool {
	for _, e := range events {
		if e.Index == 4 && e.Type == attest.EventType(0x80000003) {
			sum := sha256.Sum256([]byte(`\EFI\planted.efi`))
			if bytes.Equal(e.Digest, sum[:]) || len(e.Digest) == 20 && bytes.Contains(e.Data, utf16Of(`\EFI\planted.efi`)) {
				return true
			}
		}
	}
	return false
}

func utf16Of(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

// TestRunCommandOverARM: a run command created through the HTTPS ARM runs
// in the guest: tpm-ek answers the identity Observe reports, an unknown
// command fails the run command with exit code 127.
func TestRunCommandOverARM(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, dir, cluster.Options{})
	a := startARM(t, dir, h)
	a.createVM("avd-01")
	identity := vmByName(t, observe(t, h, "sim-cluster"), "avd-01").Identity
	cases := []struct {
		name, script, state, output, stderr string
		code                                float64
	}{
		{"ek", "tpm-ek", "Succeeded", identity + "\n", "", 0},
		{"hostname", "hostname", "Succeeded", "avd-01\n", "", 0},
		{"unknown", "format c:", "Failed", "", "format: command not found\n", 127},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := machinePath("avd-01") + "/runCommands/" + c.name + hcAPI
			a.mustLRO(201, "PUT", p, map[string]any{"location": "eastus", "properties": map[string]any{"source": map[string]any{"script": c.script}}})
			got := a.do(200, "GET", p, nil)
			if got.prop("properties.instanceView.executionState") != c.state || got.prop("properties.instanceView.output") != c.output ||
				got.prop("properties.instanceView.error") != c.stderr || got.prop("properties.instanceView.exitCode") != c.code {
				t.Fatalf("run command %q: %s", c.script, got.raw)
			}
		})
	}
	a.mustLRO(202, "POST", vmiPath("avd-01")+"/stop"+hciAPI, nil)
	if st := a.lro(201, "PUT", machinePath("avd-01")+"/runCommands/off"+hcAPI, map[string]any{"location": "eastus",
		"properties": map[string]any{"source": map[string]any{"script": "hostname"}}}); st != "Failed" {
		t.Fatalf("run command in a stopped VM: operation %s, want Failed", st)
	}
}
