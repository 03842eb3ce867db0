package attest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

// sharedDir is ../shared/testdata/eventlogs/go-attestation from the
// repository root (this package is two levels down).
const sharedDir = "../../../shared/testdata/eventlogs/go-attestation"

// readShared returns a file of the shared real data, skipping when absent.
func readShared(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir, name))
	if os.IsNotExist(err) {
		t.Skipf("%s not present (shared test data): %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func windowsEvidence(t testing.TB) attest.Evidence {
	t.Helper()
	ev, err := attest.ParseBytes(readShared(t, "windows_gcp_shielded_vm.json"))
	if err != nil {
		t.Fatal(err)
	}
	return *ev
}
