package vtpm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

func newKey(t testing.TB, n int) []byte {
	t.Helper()
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// startSwtpm starts swtpm and closes it at the end of the test unless the test
// closed it itself.
func startSwtpm(t testing.TB, dir string, key []byte) *vtpm.SwtpmProcess {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := vtpm.StartSwtpm(ctx, dir, key)
	if err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close swtpm: %v", err)
		}
	})
	return p
}

func TestSwtpmIdentityStableAcrossRestart(t *testing.T) {
	needTools(t, "swtpm")
	tests := []struct {
		name   string
		keyLen int
	}{
		{"aes-128", 16},
		{"aes-256", 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vtpm")
			key := newKey(t, tc.keyLen)
			const nvIndex = 0x01500030

			p := startSwtpm(t, dir, key)
			before, err := vtpm.ReadIdentity(p.TPM(), vtpm.ReadOptions{RSA: true})
			if err != nil {
				t.Fatal(err)
			}
			defineNV(t, p.TPM(), nvIndex)
			if err := p.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if _, err := os.Stat(filepath.Dir(p.SocketPath())); !os.IsNotExist(err) {
				t.Errorf("socket directory of a closed process still there: %v", err)
			}
			if _, err := vtpm.ReadIdentity(p.TPM(), vtpm.ReadOptions{}); err == nil {
				t.Error("a closed process still answered")
			}

			p2 := startSwtpm(t, dir, key)
			after, err := vtpm.ReadIdentity(p2.TPM(), vtpm.ReadOptions{RSA: true})
			if err != nil {
				t.Fatal(err)
			}
			if after.EKECC != before.EKECC || after.EKRSA != before.EKRSA {
				t.Errorf("EK changed across restart:\nbefore %+v\nafter  %+v", before, after)
			}
			if !slices.Contains(after.NVIndices, nvIndex) {
				t.Errorf("NV index %#x defined before the restart is gone: %#x", nvIndex, after.NVIndices)
			}
			if err := p2.Close(); err != nil {
				t.Fatal(err)
			}
			assertEncryptedAtRest(t, dir)
		})
	}
}

// assertEncryptedAtRest runs swtpm on dir without a key: it must refuse,
// because the state on disk is not plaintext.
func assertEncryptedAtRest(t *testing.T, dir string) {
	t.Helper()
	sock := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+filepath.Join(sock, "d"),
		"--ctrl", "type=unixio,path="+filepath.Join(sock, "c"),
		"--flags", "not-need-init,startup-clear").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "plain data") {
		t.Errorf("swtpm without a key on %s: err = %v, output %q; want a refusal to read encrypted state", dir, err, out)
	}
}

func TestSwtpmFreshStateNewIdentity(t *testing.T) {
	needTools(t, "swtpm")
	key := newKey(t, 32)
	a := startSwtpm(t, filepath.Join(t.TempDir(), "a"), key)
	b := startSwtpm(t, filepath.Join(t.TempDir(), "b"), key)
	ia, err := vtpm.ReadIdentity(a.TPM(), vtpm.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := vtpm.ReadIdentity(b.TPM(), vtpm.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ia.EKECC == ib.EKECC {
		t.Errorf("two freshly manufactured vTPMs share the EK %s", ia.EKECC)
	}
}

func TestSwtpmWrongKey(t *testing.T) {
	needTools(t, "swtpm")
	dir := filepath.Join(t.TempDir(), "vtpm")
	key := newKey(t, 32)
	p := startSwtpm(t, dir, key)
	want, err := vtpm.EKFingerprint(p.TPM(), vtpm.ECC)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	flipped := slices.Clone(key)
	flipped[0] ^= 1
	tests := []struct {
		name string
		key  []byte
	}{
		{"one bit different", flipped},
		{"other key of the other size", newKey(t, 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := vtpm.StartSwtpm(context.Background(), dir, tc.key)
			if err == nil {
				_ = p.Close()
				t.Fatal("swtpm started on state encrypted with another key")
			}
			if !errors.Is(err, vtpm.ErrStateKey) {
				t.Errorf("err = %v, want ErrStateKey", err)
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "use the key") {
				t.Errorf("error %q should name the state dir and say what to do", err)
			}
		})
	}
	// The failed starts must not have damaged the state.
	p = startSwtpm(t, dir, key)
	got, err := vtpm.EKFingerprint(p.TPM(), vtpm.ECC)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("EK after failed starts with wrong keys = %s, want %s", got, want)
	}
}

func TestSwtpmBadArguments(t *testing.T) {
	needTools(t, "swtpm")
	tests := []struct {
		name    string
		dir     string
		key     []byte
		wantErr string
	}{
		{"short key", t.TempDir(), make([]byte, 7), "16-byte"},
		{"no key", t.TempDir(), nil, "16-byte"},
		{"comma in dir", filepath.Join(t.TempDir(), "a,b"), make([]byte, 32), "without commas"},
		{"empty dir", "", make([]byte, 32), "non-empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := vtpm.StartSwtpm(context.Background(), tc.dir, tc.key)
			if err == nil {
				_ = p.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestSwtpmSecondProcessOnSameDirFails(t *testing.T) {
	needTools(t, "swtpm")
	dir := filepath.Join(t.TempDir(), "vtpm")
	key := newKey(t, 32)
	startSwtpm(t, dir, key)
	p, err := vtpm.StartSwtpm(context.Background(), dir, key)
	if err == nil {
		_ = p.Close()
		t.Fatal("two swtpm processes run on one state directory")
	}
}

func TestSwtpmCanceledStart(t *testing.T) {
	needTools(t, "swtpm")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := vtpm.StartSwtpm(ctx, t.TempDir(), newKey(t, 32))
	if err == nil {
		// swtpm may have answered before the canceled context was noticed.
		_ = p.Close()
		t.Skip("swtpm answered before the canceled context was checked")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestSwtpmConcurrent(t *testing.T) {
	needTools(t, "swtpm")
	p := startSwtpm(t, t.TempDir(), newKey(t, 32))
	want, err := vtpm.ReadIdentity(p.TPM(), vtpm.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		// Whole identities create a transient EK each: they need Do.
		{"identity sequences through Do", func() error {
			return p.Do(func(tr transport.TPM) error {
				id, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{})
				if err == nil && id.EKECC != want.EKECC {
					err = errors.New("EK differs under concurrency: " + id.EKECC)
				}
				return err
			})
		}},
		// Reads that load nothing may interleave command by command.
		{"single commands", func() error {
			pcrs, err := vtpm.ReadPCRs(p.TPM())
			if err == nil && pcrs != want.PCRs {
				err = errors.New("PCRs differ under concurrency")
			}
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Go(func() {
					if err := tc.run(); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestSwtpmAvailable(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		err := vtpm.SwtpmAvailable()
		if !errors.Is(err, vtpm.ErrSwtpmMissing) || !strings.Contains(err.Error(), "apt-get install swtpm swtpm-tools") {
			t.Errorf("err = %v, want ErrSwtpmMissing with the apt-get hint", err)
		}
		if _, err := vtpm.StartSwtpm(context.Background(), t.TempDir(), make([]byte, 32)); !errors.Is(err, vtpm.ErrSwtpmMissing) {
			t.Errorf("StartSwtpm without swtpm: err = %v, want ErrSwtpmMissing", err)
		}
	})
	t.Run("installed", func(t *testing.T) {
		needTools(t, "swtpm")
		if err := vtpm.SwtpmAvailable(); err != nil {
			t.Error(err)
		}
	})
}

// TestSwtpmCrossCheckTPM2Tools checks our fingerprints against the public
// areas tpm2-tools reads from the same swtpm through the tpm2-tss swtpm TCTI.
func TestSwtpmCrossCheckTPM2Tools(t *testing.T) {
	needTools(t, "swtpm", "tpm2_createek", "tpm2_readpublic")
	tests := []struct {
		name string
		alg  vtpm.EKAlg
	}{
		{"ecc", vtpm.ECC},
		{"rsa", vtpm.RSA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startSwtpm(t, t.TempDir(), newKey(t, 32))
			ours, err := vtpm.EKFingerprint(p.TPM(), tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			ctxFile := filepath.Join(work, "ek.ctx")
			createPub := filepath.Join(work, "ek.pub")
			readPub := filepath.Join(work, "ek-read.pub")
			tpm2Tool(t, p, "tpm2_createek", "-c", ctxFile, "-G", tc.alg.String(), "-u", createPub)
			tpm2Tool(t, p, "tpm2_readpublic", "-c", ctxFile, "-f", "tss", "-o", readPub)
			for _, f := range []string{createPub, readPub} {
				if got := fingerprintTPM2BFile(t, f); got != ours {
					t.Errorf("%s: tpm2-tools fingerprint %s, ours %s", filepath.Base(f), got, ours)
				}
			}

			// Persisted by tpm2-tools at the TCG handle, our code must read that
			// handle and still agree.
			handle, _ := vtpm.EKHandle(tc.alg)
			hs := "0x" + strings.ToLower(strings.TrimPrefix(handleHex(uint32(handle)), "0x"))
			tpm2Tool(t, p, "tpm2_createek", "-c", hs, "-G", tc.alg.String())
			persisted := filepath.Join(work, "ek-persisted.pub")
			tpm2Tool(t, p, "tpm2_readpublic", "-c", hs, "-f", "tss", "-o", persisted)
			got, err := vtpm.EKFingerprint(p.TPM(), tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			if want := fingerprintTPM2BFile(t, persisted); got != want || got != ours {
				t.Errorf("persistent EK: ours %s, tpm2-tools %s, transient %s", got, want, ours)
			}
		})
	}
}

func tpm2Tool(t *testing.T, p *vtpm.SwtpmProcess, tool string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"-T", p.TCTI()}, args...)...)
	cmd.Env = append(os.Environ(), "TSS2_LOG=all+NONE")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\n(the swtpm TCTI is in package libtss2-tcti-swtpm0)", tool, strings.Join(args, " "), err, out)
	}
}

// fingerprintTPM2BFile hashes the TPMT_PUBLIC inside a TPM2B_PUBLIC file (the
// tss format tpm2-tools writes: a 2-byte big-endian size, then the area).
func fingerprintTPM2BFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || int(binary.BigEndian.Uint16(b)) != len(b)-2 {
		t.Fatalf("%s is not a TPM2B: %d bytes, size field %x", path, len(b), b[:min(2, len(b))])
	}
	if bytes.Equal(b[2:], make([]byte, len(b)-2)) {
		t.Fatalf("%s holds only zeros", path)
	}
	return vtpm.FingerprintBytes(b[2:])
}

func handleHex(h uint32) string {
	const digits = "0123456789abcdef"
	out := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		out[i] = digits[h&0xf]
		h >>= 4
	}
	return string(out)
}
