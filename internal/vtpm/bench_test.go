package vtpm_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

func benchEK(b *testing.B, alg vtpm.EKAlg) {
	r := newReference(b)
	err := r.Do(1, func(tr transport.TPM) error {
		for b.Loop() {
			if _, err := vtpm.EKFingerprint(tr, alg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEKReadECC is one ECC P-256 EK fingerprint on the reference TPM.
func BenchmarkEKReadECC(b *testing.B) { benchEK(b, vtpm.ECC) }

// BenchmarkEKReadRSA is one RSA-2048 EK fingerprint (prime search) on the reference TPM.
func BenchmarkEKReadRSA(b *testing.B) { benchEK(b, vtpm.RSA) }

// BenchmarkReadIdentity is a whole identity without RSA: what an observe costs per VM.
func BenchmarkReadIdentity(b *testing.B) {
	r := newReference(b)
	err := r.Do(1, func(tr transport.TPM) error {
		for b.Loop() {
			if _, err := vtpm.ReadIdentity(tr, vtpm.ReadOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReseed is switching the reference TPM to another seed (close and
// re-manufacture), the cost of moving between VMs.
func BenchmarkReseed(b *testing.B) {
	r := newReference(b)
	seed := int64(0)
	for b.Loop() {
		seed++
		if err := r.Do(seed, func(transport.TPM) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReseedAndReadECC is a VM's identity read from cold: re-seed, then the ECC EK.
func BenchmarkReseedAndReadECC(b *testing.B) {
	r := newReference(b)
	seed := int64(0)
	for b.Loop() {
		seed++
		err := r.Do(seed, func(tr transport.TPM) error {
			_, err := vtpm.EKFingerprint(tr, vtpm.ECC)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwtpmStart is starting swtpm on existing encrypted state and
// shutting it down again.
func BenchmarkSwtpmStart(b *testing.B) {
	needTools(b, "swtpm")
	dir := filepath.Join(b.TempDir(), "vtpm")
	key := newKey(b, 32)
	p, err := vtpm.StartSwtpm(context.Background(), dir, key)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := vtpm.StartSwtpm(context.Background(), dir, key)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwtpmEKReadECC is one ECC EK fingerprint over the swtpm socket.
func BenchmarkSwtpmEKReadECC(b *testing.B) {
	needTools(b, "swtpm")
	p := startSwtpm(b, b.TempDir(), newKey(b, 32))
	for b.Loop() {
		if _, err := vtpm.EKFingerprint(p.TPM(), vtpm.ECC); err != nil {
			b.Fatal(err)
		}
	}
}
