package guestattest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// guest is a simulated guest: its vTPM is the reference TPM of seed, and
// every command powers it on and replays the boot of log first, as a real
// guest's TPM holds the PCRs of its boot. tamper extends one more
// measurement that the log does not show (what a verifier must catch).
type guest struct {
	t      *testing.T
	ref    *vtpm.Reference
	seed   int64
	boot   *guestboot.Boot
	tamper bool
	// ima extends PCR 10 in both banks after the firmware, as a Linux
	// kernel with IMA does (boot_aggregate and after): no firmware log
	// event is in PCR 10.
	ima  bool
	runs []string
	// answer, when set, replaces the agent's answer to the command named.
	answer map[string]*guestattest.Output
}

// newGuest makes a guest on ref, the test's one reference TPM (the
// simulator is one per process: a second Reference waits for the first).
func newGuest(t *testing.T, ref *vtpm.Reference, seed int64, log string) *guest {
	t.Helper()
	b, err := guestboot.New(log, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &guest{t: t, ref: ref, seed: seed, boot: b}
}

// extendBoth extends PCR pcr in the SHA-1 and the SHA-256 bank with a
// measurement no log shows, as firmware or a kernel extends every bank.
func extendBoth(tr transport.TPM, pcr tpm2.TPMHandle) error {
	for _, d := range []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA1, Digest: make([]byte, 20)}, {HashAlg: tpm2.TPMAlgSHA256, Digest: make([]byte, 32)}} {
		d.Digest[0] = 0x1a
		ext := tpm2.PCRExtend{PCRHandle: tpm2.AuthHandle{Handle: pcr, Auth: tpm2.PasswordAuth(nil)},
			Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{d}}}
		if _, err := ext.Execute(tr); err != nil {
			return err
		}
	}
	return nil
}

func reference(t *testing.T) *vtpm.Reference {
	ref := vtpm.NewReference()
	t.Cleanup(func() { ref.Close() })
	return ref
}

func (g *guest) run(_ context.Context, args []string) (*guestattest.Output, error) {
	g.runs = append(g.runs, args[0])
	if out, ok := g.answer[args[0]]; ok {
		return out, nil
	}
	var out guestattest.Output
	err := g.ref.Boot(g.seed, func(tr transport.TPM) error {
		if err := g.boot.Extend(tr); err != nil {
			return err
		}
		if g.tamper {
			if err := extendBoth(tr, 4); err != nil {
				return err
			}
		}
		if g.ima {
			if err := extendBoth(tr, 10); err != nil {
				return err
			}
		}
		s, err := guestagent.NewSession(guestagent.OverTransport(tr, g.boot.Log))
		if err != nil {
			return err
		}
		defer s.Close()
		out.Stdout, out.ExitCode, out.Stderr = guestagent.Command(s, args)
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), vtpm.ErrNoCgoMessage) {
			g.t.Skip(err)
		}
		g.t.Fatal(err)
	}
	return &out, nil
}

func TestAttestFirstContactThenRecordedAK(t *testing.T) {
	ref := reference(t)
	g := newGuest(t, ref, 41, "windows_gcp_shielded_vm")
	first := attestNow(t, g.run, guestattest.Pin{})
	if first.Result != drivers.AttestVerified {
		t.Fatalf("first contact: %+v", first)
	}
	if strings.Join(g.runs, ",") != "attest,activate" {
		t.Errorf("first contact ran %v, want attest then activate (credential activation binds the AK)", g.runs)
	}
	if first.SecureBoot == nil || !*first.SecureBoot || len(first.AK) != 32 || len(first.EK) != 64 || first.Boot == "" || len(first.Components) == 0 {
		t.Errorf("the record misses facts: %+v", first)
	}
	if first.CodeIntegrity == nil || !*first.CodeIntegrity || first.TestSigning == nil || *first.TestSigning {
		t.Errorf("Windows boot state not recorded: %+v", first)
	}
	g.runs = nil
	again := attestNow(t, g.run, guestattest.Pin{AK: first.AK, EK: first.EK})
	if again.Result != drivers.AttestVerified || strings.Join(g.runs, ",") != "attest" {
		t.Errorf("with the recorded AK: %+v after %v, want verified after one attest", again, g.runs)
	}
	if again.EK != first.EK || again.AK != first.AK || again.Boot != first.Boot {
		t.Errorf("the same vTPM and boot gave another identity: %+v vs %+v", again, first)
	}
	// Another TPM (a new vTPM, or an agent replaced by one over a software TPM) while the
	// EK is pinned: refused before any activation against the EK it presents.
	other := newGuest(t, ref, 42, "windows_gcp_shielded_vm")
	forged := attestNow(t, other.run, guestattest.Pin{AK: first.AK, EK: first.EK})
	if forged.Result != drivers.AttestFailed || forged.Problem != "ek-mismatch" || strings.Join(other.runs, ",") != "attest" {
		t.Errorf("another TPM with the EK pinned: %+v after %v: want ek-mismatch after one attest", forged, other.runs)
	}
	// The pin released (the driver accepted a new vTPM identity): a new first contact.
	other.runs = nil
	moved := attestNow(t, other.run, guestattest.Pin{AK: first.AK})
	if moved.Result != drivers.AttestVerified || strings.Join(other.runs, ",") != "attest,activate" || moved.EK == first.EK {
		t.Errorf("another vTPM, no EK pinned: %+v after %v: want a new EK bound by a new activation", moved, other.runs)
	}
}

// TestAttestLinuxWithIMA: a Linux kernel with IMA measures into PCR 10
// after the firmware (every Debian, Ubuntu and RHEL kernel does, even without
// a policy: boot_aggregate), so a quoted PCR 10 has no event in the firmware
// log. It verifies (go-attestation replays only PCRs the log has events for;
// the verifier reads nothing from PCR 10), and a boot tampered the same way
// in PCR 4 still fails.
func TestAttestLinuxWithIMA(t *testing.T) {
	ref := reference(t)
	g := newGuest(t, ref, 44, guestboot.LogLinuxSecureBoot)
	g.ima = true
	if r := attestNow(t, g.run, guestattest.Pin{}); r.Result != drivers.AttestVerified {
		t.Fatalf("a Linux guest with IMA: %s (%s), want verified", r.Result, r.Problem)
	}
	g.tamper = true
	if r := attestNow(t, g.run, guestattest.Pin{}); r.Result != drivers.AttestFailed {
		t.Fatalf("with IMA and a PCR 4 the log does not explain: %s (%s), want failed", r.Result, r.Problem)
	}
}

func TestAttestOutcomes(t *testing.T) {
	ref := reference(t)
	for _, tc := range []struct {
		name    string
		set     func(g *guest) guestattest.Runner
		result  string
		problem string
	}{
		{"no agent", func(g *guest) guestattest.Runner {
			return answer(&guestattest.Output{ExitCode: 127, Stderr: "tlreconcile: command not found"})
		}, drivers.AttestUnavailable, "no-agent"},
		{"the command did not run", func(g *guest) guestattest.Runner { return answer(nil) }, drivers.AttestUnavailable, "no-agent"},
		{"agent failed", func(g *guest) guestattest.Runner { return answer(&guestattest.Output{ExitCode: 1, Stderr: "no TPM"}) }, drivers.AttestUnavailable, "agent-failed"},
		{"channel says why", func(g *guest) guestattest.Runner {
			return fail(&guestattest.Unavailable{Code: "no-guest-credential"})
		}, drivers.AttestUnavailable, "no-guest-credential"},
		{"channel failed", func(g *guest) guestattest.Runner { return fail(errors.New("connection reset")) }, drivers.AttestUnavailable, "channel-failed"},
		{"a code that is not one", func(g *guest) guestattest.Runner {
			return fail(&guestattest.Unavailable{Code: "Not A Code"})
		}, drivers.AttestUnavailable, "channel-failed"},
		{"not JSON", func(g *guest) guestattest.Runner { return answer(&guestattest.Output{Stdout: "hello"}) }, drivers.AttestUnavailable, "output-unreadable"},
		{"cut to its last 4,096 bytes", func(g *guest) guestattest.Runner { return cut(g.run, -4096) }, drivers.AttestUnavailable, "output-unreadable"},
		{"cut to its first 4,096 bytes", func(g *guest) guestattest.Runner { return cut(g.run, 4096) }, drivers.AttestUnavailable, "output-unreadable"},
		{"JSON but not evidence", func(g *guest) guestattest.Runner {
			return answer(&guestattest.Output{Stdout: `{"format_version": 99}`})
		}, drivers.AttestFailed, "bad-evidence"},
		{"activation refused", func(g *guest) guestattest.Runner {
			g.answer = map[string]*guestattest.Output{"activate": {ExitCode: 1}}
			return g.run
		}, drivers.AttestFailed, "ak-not-bound"},
		{"a PCR the log does not explain", func(g *guest) guestattest.Runner { g.tamper = true; return g.run }, drivers.AttestFailed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuest(t, ref, 43, "windows_gcp_shielded_vm")
			r := attestNow(t, tc.set(g), guestattest.Pin{})
			if r.Result != tc.result || (tc.problem != "" && r.Problem != tc.problem) || r.Problem == "" {
				t.Errorf("got %s (%s), want %s (%s)", r.Result, r.Problem, tc.result, tc.problem)
			}
			if r.Result != drivers.AttestVerified && (r.SecureBoot != nil || r.Baseline != "" || r.AK != "") {
				t.Errorf("an unverified record carries facts: %+v", r)
			}
		})
	}
}

// attestNow attests through run and fails the test on a channel error.
func attestNow(t *testing.T, run guestattest.Runner, pin guestattest.Pin) guestattest.Record {
	t.Helper()
	r, err := guestattest.Attest(context.Background(), run, pin)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	return r
}

// TestAttestChannelHiccup: a passing channel failure (a lost PowerShell process, ARM's 503),
// in the attest command or in the activation, is the op's error to retry, not a record.
func TestAttestChannelHiccup(t *testing.T) {
	ref := reference(t)
	hiccup := drivers.Transient(errors.New("node/node1: powershell exited"))
	if _, err := guestattest.Attest(context.Background(), fail(hiccup), guestattest.Pin{}); !errors.Is(err, hiccup) {
		t.Errorf("a transient failure of the attest command: %v, want it returned", err)
	}
	g := newGuest(t, ref, 45, "windows_gcp_shielded_vm")
	run := func(ctx context.Context, args []string) (*guestattest.Output, error) {
		if args[0] == "activate" {
			return nil, hiccup
		}
		return g.run(ctx, args)
	}
	if _, err := guestattest.Attest(context.Background(), run, guestattest.Pin{}); !errors.Is(err, hiccup) {
		t.Errorf("a transient failure of the activation: %v, want it returned (not ak-not-bound)", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := guestattest.Attest(ctx, fail(context.Canceled), guestattest.Pin{}); err == nil {
		t.Error("an apply interrupted mid-attest recorded an outcome")
	}
}

func answer(out *guestattest.Output) guestattest.Runner {
	return func(context.Context, []string) (*guestattest.Output, error) { return out, nil }
}

// cut keeps the first n bytes of the agent's attest answer (the last -n
// when n < 0), as a channel with an output limit does.
func cut(run guestattest.Runner, n int) guestattest.Runner {
	return func(ctx context.Context, args []string) (*guestattest.Output, error) {
		out, err := run(ctx, args)
		if err != nil || out == nil || args[0] != "attest" {
			return out, err
		}
		c := *out
		switch {
		case n > 0 && len(c.Stdout) > n:
			c.Stdout = c.Stdout[:n]
		case n < 0 && len(c.Stdout) > -n:
			c.Stdout = c.Stdout[len(c.Stdout)+n:]
		}
		return &c, nil
	}
}

func fail(err error) guestattest.Runner {
	return func(context.Context, []string) (*guestattest.Output, error) { return nil, err }
}
