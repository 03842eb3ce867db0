package vtpm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/golden"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// newReference returns a Reference closed at the end of the test. Tests using
// it must not run in parallel: the process has one simulator.
func newReference(t testing.TB) *vtpm.Reference {
	t.Helper()
	r := vtpm.NewReference()
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close reference: %v", err)
		}
	})
	return r
}

func readRef(t testing.TB, r *vtpm.Reference, seed int64, opts vtpm.ReadOptions) *vtpm.Identity {
	t.Helper()
	var id *vtpm.Identity
	err := r.Do(seed, func(tr transport.TPM) error {
		var err error
		id, err = vtpm.ReadIdentity(tr, opts)
		return err
	})
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return id
}

func TestReferenceSeeds(t *testing.T) {
	r := newReference(t)
	rsa := vtpm.ReadOptions{RSA: true}
	// Seed 7 is read first, then the instance is replaced twice before 7 is
	// read again, so equality proves the identity survives close and re-open.
	first := readRef(t, r, 7, rsa)
	other := readRef(t, r, 8, rsa)
	third := readRef(t, r, -7, rsa)
	again := readRef(t, r, 7, rsa)

	tests := []struct {
		name     string
		a, b     *vtpm.Identity
		wantSame bool
	}{
		{"same seed after re-open", first, again, true},
		{"neighbouring seed", first, other, false},
		{"negated seed", first, third, false},
		{"two other seeds", other, third, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.EKECC == tc.b.EKECC; got != tc.wantSame {
				t.Errorf("ECC EK equal = %v, want %v (%s vs %s)", got, tc.wantSame, tc.a.EKECC, tc.b.EKECC)
			}
			if got := tc.a.EKRSA == tc.b.EKRSA; got != tc.wantSame {
				t.Errorf("RSA EK equal = %v, want %v", got, tc.wantSame)
			}
		})
	}
	for _, id := range []*vtpm.Identity{first, other, third} {
		if len(id.EKECC) != 64 || len(id.EKRSA) != 64 || id.EKECC == id.EKRSA {
			t.Errorf("fingerprints are not two distinct sha256 hex strings: %+v", id)
		}
	}
}

func TestReadIdentityWithoutRSALeavesItEmpty(t *testing.T) {
	r := newReference(t)
	if id := readRef(t, r, 1, vtpm.ReadOptions{}); id.EKRSA != "" || id.EKECC == "" {
		t.Errorf("EKRSA = %q, EKECC = %q: want RSA empty and ECC set without ReadOptions.RSA", id.EKRSA, id.EKECC)
	}
}

// TestReferenceGolden pins the identity of fixed seeds. The sim driver records
// these identities on VMs; if a go-tpm-tools upgrade changes them, every
// simulated VM would report "vTPM state lost", so a diff here must be looked at.
func TestReferenceGolden(t *testing.T) {
	r := newReference(t)
	for _, seed := range []int64{0, 1, 42} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			id := readRef(t, r, seed, vtpm.ReadOptions{RSA: true})
			got, err := json.MarshalIndent(id, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", fmt.Sprintf("reference-seed-%d.json", seed)), got)
		})
	}
}

func TestPCRExtendChangesIdentity(t *testing.T) {
	for _, pcr := range []uint32{0, 3, 7} {
		t.Run(fmt.Sprintf("pcr%d", pcr), func(t *testing.T) {
			r := newReference(t)
			err := r.Do(11, func(tr transport.TPM) error {
				before, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{})
				if err != nil {
					return err
				}
				want := extendPCR(t, tr, pcr, before.PCRs[pcr], []byte("boot component"))
				after, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{})
				if err != nil {
					return err
				}
				for i := range vtpm.PCRCount {
					switch {
					case uint32(i) == pcr && after.PCRs[i] != want:
						t.Errorf("pcr %d = %s, want %s", i, after.PCRs[i], want)
					case uint32(i) != pcr && after.PCRs[i] != before.PCRs[i]:
						t.Errorf("pcr %d changed from %s to %s, though only pcr %d was extended", i, before.PCRs[i], after.PCRs[i], pcr)
					}
				}
				if after.EKECC != before.EKECC {
					t.Errorf("EK changed after a PCR extend")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNVIndicesListed(t *testing.T) {
	tests := []struct {
		name    string
		define  []uint32
		wantIDs []uint32
	}{
		{"none", nil, []uint32{}},
		{"one", []uint32{0x01500010}, []uint32{0x01500010}},
		{"sorted whatever the order", []uint32{0x01c00002, 0x01000001, 0x01500010}, []uint32{0x01000001, 0x01500010, 0x01c00002}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReference(t)
			err := r.Do(int64(100+i), func(tr transport.TPM) error {
				for _, idx := range tc.define {
					defineNV(t, tr, idx)
				}
				id, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{})
				if err != nil {
					return err
				}
				if !slices.Equal(id.NVIndices, tc.wantIDs) {
					t.Errorf("NVIndices = %#x, want %#x", id.NVIndices, tc.wantIDs)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNVIndicesManyPages defines more indices than one GetCapability page
// (16) holds; the reference TPM has NV room for about 45 small indices.
func TestNVIndicesManyPages(t *testing.T) {
	r := newReference(t)
	err := r.Do(5, func(tr transport.TPM) error {
		var want []uint32
		for i := range uint32(40) {
			idx := 0x01800000 + i*3
			defineNV(t, tr, idx)
			want = append(want, idx)
		}
		got, err := vtpm.NVIndices(tr)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %d indices %#x, want %d", len(got), got, len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPersistentEKPreferred(t *testing.T) {
	// A key from the owner hierarchy with the EK template has the EK's type but
	// not its value, so only a read of the persistent handle can return it.
	tests := []struct {
		name      string
		alg       vtpm.EKAlg
		hierarchy tpm2.TPMHandle
		sameAsEK  bool
	}{
		{"ecc: the real EK persisted", vtpm.ECC, tpm2.TPMRHEndorsement, true},
		{"ecc: another key at the EK handle", vtpm.ECC, tpm2.TPMRHOwner, false},
		{"rsa: the real EK persisted", vtpm.RSA, tpm2.TPMRHEndorsement, true},
		{"rsa: another key at the EK handle", vtpm.RSA, tpm2.TPMRHOwner, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReference(t)
			err := r.Do(int64(200+i), func(tr transport.TPM) error {
				derived, err := vtpm.EKFingerprint(tr, tc.alg)
				if err != nil {
					return err
				}
				template, _ := vtpm.EKTemplate(tc.alg)
				handle, _ := vtpm.EKHandle(tc.alg)
				persisted := persistPrimary(t, tr, tc.hierarchy, template, handle)
				got, err := vtpm.EKFingerprint(tr, tc.alg)
				if err != nil {
					return err
				}
				if got != persisted {
					t.Errorf("fingerprint = %s, want the persisted key's %s", got, persisted)
				}
				if (got == derived) != tc.sameAsEK {
					t.Errorf("fingerprint equals the template-derived EK: %v, want %v", got == derived, tc.sameAsEK)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPersistentHandleOfWrongTypeFails(t *testing.T) {
	r := newReference(t)
	err := r.Do(3, func(tr transport.TPM) error {
		persistPrimary(t, tr, tpm2.TPMRHOwner, tpm2.ECCEKTemplate, vtpm.EKHandleRSA)
		_, err := vtpm.EKFingerprint(tr, vtpm.RSA)
		return err
	})
	if err == nil {
		t.Fatal("an ECC key at the RSA EK handle was accepted as the RSA EK")
	}
	if want := "0x81010001"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the handle %s", err, want)
	}
}

func TestEKFingerprintUnknownAlg(t *testing.T) {
	r := newReference(t)
	err := r.Do(1, func(tr transport.TPM) error {
		_, err := vtpm.EKFingerprint(tr, vtpm.EKAlg(9))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "vtpm.ECC") {
		t.Errorf("err = %v, want an error naming the valid algorithms", err)
	}
}

func TestReadIdentityNilTransport(t *testing.T) {
	if _, err := vtpm.ReadIdentity(nil, vtpm.ReadOptions{}); err == nil {
		t.Error("nil transport accepted")
	}
}

func TestReferenceStateKeptWhileSeedUnchanged(t *testing.T) {
	r := newReference(t)
	const idx = 0x01500020
	if err := r.Do(9, func(tr transport.TPM) error { defineNV(t, tr, idx); return nil }); err != nil {
		t.Fatal(err)
	}
	if id := readRef(t, r, 9, vtpm.ReadOptions{}); !slices.Contains(id.NVIndices, idx) {
		t.Errorf("NV index lost between two calls with the same seed: %#x", id.NVIndices)
	}
	readRef(t, r, 10, vtpm.ReadOptions{})
	if id := readRef(t, r, 9, vtpm.ReadOptions{}); slices.Contains(id.NVIndices, idx) {
		t.Errorf("NV index survived a seed change, but Reference documents a fresh TPM: %#x", id.NVIndices)
	}
}

func TestReferenceClosed(t *testing.T) {
	r := vtpm.NewReference()
	readRef(t, r, 1, vtpm.ReadOptions{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	called := false
	err := r.Do(1, func(transport.TPM) error { called = true; return nil })
	if !errors.Is(err, vtpm.ErrClosed) || called {
		t.Errorf("Do after Close: err = %v, fn called = %v; want ErrClosed and no call", err, called)
	}
	// The simulator is free again for a new Reference.
	r2 := newReference(t)
	readRef(t, r2, 1, vtpm.ReadOptions{})
}

func TestReferenceFnErrorReturned(t *testing.T) {
	r := newReference(t)
	sentinel := errors.New("boom")
	if err := r.Do(1, func(transport.TPM) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("err = %v, want fn's error", err)
	}
}

// TestReferenceConcurrent runs many goroutines with interleaved seeds; each
// must see its own seed's EK (run with -race).
func TestReferenceConcurrent(t *testing.T) {
	r := newReference(t)
	want := map[int64]string{}
	for seed := int64(0); seed < 4; seed++ {
		want[seed] = readRef(t, r, seed, vtpm.ReadOptions{}).EKECC
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			seed := int64(g % 4)
			err := r.Do(seed, func(tr transport.TPM) error {
				got, err := vtpm.EKFingerprint(tr, vtpm.ECC)
				if err == nil && got != want[seed] {
					err = fmt.Errorf("seed %d: got %s, want %s", seed, got, want[seed])
				}
				return err
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReleasingReferenceDoesNotBlockOthers: a releasing Reference gives the
// process's one simulator back after each call, so a second Reference is
// not blocked while the first is idle; the EK of a seed stays the same.
func TestReleasingReferenceDoesNotBlockOthers(t *testing.T) {
	a, b := vtpm.NewReleasingReference(), vtpm.NewReference()
	defer a.Close()
	defer b.Close()
	var ekA, ekB string
	if err := a.Do(7, func(tr transport.TPM) error { var err error; ekA, err = vtpm.EKFingerprint(tr, vtpm.ECC); return err }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- b.Do(7, func(tr transport.TPM) error { var err error; ekB, err = vtpm.EKFingerprint(tr, vtpm.ECC); return err })
	}()
	select {
	case err := <-done:
		if err != nil || ekA != ekB {
			t.Fatalf("second Reference: %v, EK %s vs %s", err, ekB, ekA)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second Reference is blocked by an idle releasing one")
	}
}
