package drivers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretFile bounds a secret file (a password is a few dozen bytes).
const maxSecretFile = 4 << 10

// ResolveSecret reads the secret r names at the moment it is needed (nil r:
// ""). The caller puts its value into one request to the platform and
// nowhere else; errors name the reference, never the value. what names the
// field for the errors (e.g. osProfile.adminPassword).
func ResolveSecret(what string, r *SecretRef) (string, error) {
	switch {
	case r == nil:
		return "", nil
	case r.FromEnv != "" && r.FromFile != "":
		return "", fmt.Errorf("%s: give fromEnv or fromFile, not both: %w", what, ErrInvalidArgument)
	case r.FromEnv != "":
		v, ok := os.LookupEnv(r.FromEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: the environment variable %s is not set (or empty) in the process that applies; export it there: %w", what, r.FromEnv, ErrPrecondition)
		}
		return v, nil
	case r.FromFile != "":
		return readSecretFile(what, r.FromFile)
	}
	return "", fmt.Errorf("%s: an empty secret reference: %w", what, ErrInvalidArgument)
}

func readSecretFile(what, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: read %s: %w", what, path, errors.Join(err, ErrPrecondition))
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %s is not a regular file: %w", what, path, ErrPrecondition)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: read %s: %w", what, path, errors.Join(err, ErrPrecondition))
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s: %s is over %d bytes, not a password: %w", what, path, maxSecretFile, ErrPrecondition)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty: %w", what, path, ErrPrecondition)
	}
	return v, nil
}
