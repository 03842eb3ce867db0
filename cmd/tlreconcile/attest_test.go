package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/golden"
)

// attestData is the shared real attestation data, from the repository root
// (runCLI runs there).
const attestData = "../shared/testdata/eventlogs/go-attestation/"

func needAttestData(t *testing.T, name string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("../..", attestData, name)); err != nil {
		t.Skipf("shared test data %s absent: %v", name, err)
	}
}

func TestAttestVerifyGolden(t *testing.T) {
	cases := []struct {
		name, file string
		args       []string
		wantErr    string
	}{
		{"windows", attestData + "windows_gcp_shielded_vm.json", nil, ""},
		{"windows-json", attestData + "windows_gcp_shielded_vm.json", []string{"--format", "json"}, ""},
		{"windows-wrong-nonce", attestData + "windows_gcp_shielded_vm.json", []string{"--nonce", "00ff"}, "nonce-mismatch: quote 0 carries nonce , the verifier expected 00ff"},
		{"ubuntu-log-only", attestData + "ubuntu_2104_shielded_vm_no_secure_boot_eventlog", nil, ""},
		{"tpm12", "internal/attest/testdata/linux_tpm12.json", nil, "tpm12-unsupported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasPrefix(c.file, attestData) {
				needAttestData(t, strings.TrimPrefix(c.file, attestData))
			}
			out, err := runCLI(t, "", append([]string{"attest", "verify", c.file}, c.args...)...)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("attest verify: %v\n%s", err, out)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("attest verify error = %v, want %q", err, c.wantErr)
			case c.wantErr != "" && exitCodeOf(err) != 1:
				t.Fatalf("exit code %d, want 1", exitCodeOf(err))
			}
			ext := ".txt"
			if strings.Contains(c.name, "json") {
				ext = ".json"
				var v map[string]any
				if err := json.Unmarshal([]byte(out), &v); err != nil || v["verified"] != true {
					t.Fatalf("json output: %v %v", err, v["verified"])
				}
			}
			golden.Check(t, filepath.Join("cmd/tlreconcile/testdata/attest", c.name+ext), []byte(out))
		})
	}
}

func TestAttestVerifyFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"format", []string{"--format", "yaml"}, `--format "yaml" is unknown`},
		{"nonce", []string{"--nonce", "xyz"}, "--nonce \"xyz\" is not hex"},
		{"ek", []string{"--expect-ek", "abcd"}, "is not a sha256 fingerprint"},
		{"missing file", nil, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCLI(t, "", append([]string{"attest", "verify", "does-not-exist.json"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
		})
	}
}
