package e2eboot_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/e2eboot"
	"github.com/tlreconcile/tlreconcile/internal/golden"
)

func TestGrubConfig(t *testing.T) {
	golden.Check(t, "testdata/grub.cfg", []byte(e2eboot.GrubConfig("00112233445566778899aabbccddeeff")))
}

// TestFindChainNamesWhatIsMissing: an empty cache is an error that names
// the boot chain and the script that fetches it.
func TestFindChainNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := e2eboot.FindChain(dir)
	if err == nil {
		t.Fatal("an empty cache was accepted")
	}
	for _, want := range []string{"shimx64.efi.signed", "grubx64.efi.signed", "signed kernel", "scripts/e2e-boot-deps.sh " + dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
