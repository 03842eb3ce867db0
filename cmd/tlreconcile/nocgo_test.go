package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// TestWithoutCgoTheSimSaysSo: a tlreconcile built without cgo (the guest
// agent's build) has no reference TPM, and the embedded sim says so and how
// to get one, instead of go-tpm-tools' bare stub error.
func TestWithoutCgoTheSimSaysSo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tlreconcile without cgo (-short skips it)")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("runs the linux/amd64 build")
	}
	bin := filepath.Join(t.TempDir(), "tlreconcile")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	apply := exec.Command(bin, "apply", "-f", "examples/basic", "--auto-approve", "--no-color", "--state-dir", t.TempDir())
	apply.Dir = "../.."
	out, err := apply.CombinedOutput()
	if err == nil || !strings.Contains(string(out), vtpm.ErrNoCgoMessage) {
		t.Fatalf("apply on the sim without cgo: %v, want the message %q:\n%s", err, vtpm.ErrNoCgoMessage, out)
	}
}
