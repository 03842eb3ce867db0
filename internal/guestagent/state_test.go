package guestagent_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/attest"
	"github.com/tlreconcile/tlreconcile/internal/guestagent"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

func TestAttestRefusesBadInput(t *testing.T) {
	cases := []struct {
		name  string
		nonce []byte
		keys  guestagent.KeyStore
		want  string
	}{
		{"no nonce", nil, &guestagent.MemoryStore{}, "no nonce"},
		{"nonce too long", make([]byte, guestagent.MaxNonce+1), &guestagent.MemoryStore{}, "at most 64 bytes"},
		{"no key store", []byte("n"), nil, "no key store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The checks come before any TPM command: a channel that is never
			// used is enough.
			ch := guestagent.FromTransport(nil, nil)
			_, _, err := guestagent.Attest(context.Background(), ch, tc.nonce, guestagent.Options{Keys: tc.keys})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Attest: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestAttestLongestNonce: a TPM takes the longest nonce the agent accepts.
func TestAttestLongestNonce(t *testing.T) {
	nonce := []byte(strings.Repeat("n", guestagent.MaxNonce))
	backends()[0].run(t, 21, func(tr transport.TPM) {
		log := measure(t, tr, guestboot.LogLinuxNoSecureBoot)
		ev, _, err := guestagent.Attest(context.Background(), guestagent.FromTransport(tr, log), nonce, guestagent.Options{Keys: &guestagent.MemoryStore{}})
		if err != nil {
			t.Fatalf("Attest with a %d-byte nonce: %v", len(nonce), err)
		}
		if _, err := attest.Verify(ev, attest.VerifyOptions{Nonce: nonce}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAttestChangesNothingElse: after two runs and an activation the TPM
// holds no object the agent loaded, no new NV index, and no persistent key
// but the standard SRK go-attestation provisions; and the only file in the
// state directory is the AK blob, mode 0600.
func TestAttestChangesNothingElse(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			b.run(t, 22, func(tr transport.TPM) {
				log := measure(t, tr, guestboot.LogLinuxNoSecureBoot)
				nvBefore, err := vtpm.NVIndices(tr)
				if err != nil {
					t.Fatal(err)
				}
				persistentBefore := handles(t, tr, tpm2.TPMHTPersistent)
				state := filepath.Join(t.TempDir(), "state")
				keys := guestagent.FileStore{Dir: state}
				ch := guestagent.FromTransport(tr, log)
				ev, _, err := guestagent.Attest(context.Background(), ch, []byte("one"), guestagent.Options{Keys: keys})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := guestagent.Attest(context.Background(), ch, []byte("two"), guestagent.Options{Keys: keys}); err != nil {
					t.Fatal(err)
				}
				_, cred, err := attest.Challenge(ev)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := guestagent.Activate(context.Background(), ch, cred, guestagent.Options{Keys: keys}); err != nil {
					t.Fatal(err)
				}
				if got := handles(t, tr, tpm2.TPMHTTransient); len(got) != 0 {
					t.Errorf("transient objects left loaded: %#x", got)
				}
				nvAfter, err := vtpm.NVIndices(tr)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(nvAfter, nvBefore) {
					t.Errorf("NV indices %#x, before %#x", nvAfter, nvBefore)
				}
				added := map[uint32]bool{}
				for _, h := range handles(t, tr, tpm2.TPMHTPersistent) {
					added[h] = true
				}
				for _, h := range persistentBefore {
					delete(added, h)
				}
				delete(added, 0x81000001) // the standard SRK
				if len(added) != 0 {
					t.Errorf("persistent keys added besides the SRK: %v", added)
				}
				checkStateDir(t, state)
			})
		})
	}
}

func handles(t *testing.T, tr transport.TPM, ht tpm2.TPMHT) []uint32 {
	t.Helper()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(ht) << 24, PropertyCount: 64}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	hl, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, h := range hl.Handle {
		if uint32(h)>>24 == uint32(ht) {
			out = append(out, uint32(h))
		}
	}
	return out
}

func checkStateDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != guestagent.AKFileName {
		t.Fatalf("state directory holds %v, want only %s", entries, guestagent.AKFileName)
	}
	fi, err := os.Stat(filepath.Join(dir, guestagent.AKFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("AK file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", di.Mode().Perm())
	}
}

// TestAKFromAnotherTPMIsReplaced: the AK blob of one vTPM does not load on
// a new one (a reset vTPM), so the agent makes a new AK and says so; and
// activation with a blob the TPM cannot load fails with what to do.
func TestAKFromAnotherTPMIsReplaced(t *testing.T) {
	keys := &guestagent.MemoryStore{}
	var first attest.Evidence
	backends()[0].run(t, 31, func(tr transport.TPM) {
		log := measure(t, tr, guestboot.LogLinuxNoSecureBoot)
		var err error
		first, _, err = guestagent.Attest(context.Background(), guestagent.FromTransport(tr, log), []byte("n1"), guestagent.Options{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
	})
	backends()[0].run(t, 32, func(tr transport.TPM) {
		log := measure(t, tr, guestboot.LogLinuxNoSecureBoot)
		ch := guestagent.FromTransport(tr, log)
		_, cred, err := attest.Challenge(first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := guestagent.Activate(context.Background(), ch, cred, guestagent.Options{Keys: keys}); err == nil || !strings.Contains(err.Error(), "attest again") {
			t.Errorf("Activate with another TPM's AK: %v, want an error saying to attest again", err)
		}
		ev, rep, err := guestagent.Attest(context.Background(), ch, []byte("n2"), guestagent.Options{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.AKReplaced || !rep.AKCreated {
			t.Errorf("report %+v, want the AK replaced", rep)
		}
		if reflect.DeepEqual(ev.EKPublic, first.EKPublic) {
			t.Error("a new vTPM has the old EK")
		}
	})
}

func TestActivateNeedsAnAK(t *testing.T) {
	ch := guestagent.FromTransport(nil, nil)
	cred := attest.EncryptedCredential{Credential: []byte{0, 1, 2}, Secret: []byte{0, 1, 2}}
	_, err := guestagent.Activate(context.Background(), ch, cred, guestagent.Options{Keys: &guestagent.MemoryStore{}})
	if err == nil || !strings.Contains(err.Error(), "run `tlreconcile guest attest` first") {
		t.Fatalf("Activate without an AK: %v", err)
	}
	_, err = guestagent.Activate(context.Background(), ch, attest.EncryptedCredential{}, guestagent.Options{Keys: &guestagent.MemoryStore{}})
	if err == nil || !strings.Contains(err.Error(), "no credential or secret") {
		t.Fatalf("Activate with an empty challenge: %v", err)
	}
}

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := guestagent.FileStore{Dir: dir}
	if b, err := s.Load(); err != nil || b != nil {
		t.Fatalf("Load of nothing: %v, %v; want nil, nil", b, err)
	}
	for _, blob := range [][]byte{[]byte("first"), []byte("second, longer")} {
		if err := s.Save(blob); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load()
		if err != nil || string(got) != string(blob) {
			t.Fatalf("Load = %q, %v; want %q", got, err, blob)
		}
	}
	checkStateDir(t, dir)
	if err := (guestagent.FileStore{}).Save([]byte("x")); err == nil || !strings.Contains(err.Error(), "--state") {
		t.Errorf("Save without a directory: %v", err)
	}
}
