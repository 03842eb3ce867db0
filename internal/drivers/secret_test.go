package drivers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSecret(t *testing.T) {
	const pw = "p4ss-w0rd!"
	t.Setenv("TLR_PW", pw)
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ref  *SecretRef
		want string // the value, or a part of the error
		err  error
	}{
		{"none", nil, "", nil},
		{"env", &SecretRef{FromEnv: "TLR_PW"}, pw, nil},
		{"file, newline trimmed", &SecretRef{FromFile: file}, pw, nil},
		{"env unset", &SecretRef{FromEnv: "TLR_NOT_SET"}, "TLR_NOT_SET is not set", ErrPrecondition},
		{"file missing", &SecretRef{FromFile: filepath.Join(dir, "nope")}, "nope", ErrPrecondition},
		{"file too big", &SecretRef{FromFile: big}, "not a password", ErrPrecondition},
		{"file empty", &SecretRef{FromFile: empty}, "is empty", ErrPrecondition},
		{"a directory", &SecretRef{FromFile: dir}, "not a regular file", ErrPrecondition},
		{"both", &SecretRef{FromEnv: "TLR_PW", FromFile: file}, "not both", ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ResolveSecret("osProfile.adminPassword", tc.ref)
			if tc.err == nil {
				if err != nil || v != tc.want {
					t.Fatalf("got %q, %v", v, err)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), pw) {
				t.Fatalf("err = %v, want %v naming %q (and never the value)", err, tc.err, tc.want)
			}
		})
	}
}
