package armspec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// bundleRel is where the bundle sits relative to the module root: beside the repository's checkout,
// in the shared testdata (the README of the bundle says ../shared/testdata/azure-rest-api-specs).
const bundleRel = "../shared/testdata/azure-rest-api-specs"

// BundleRoot returns the azure-rest-api-specs folder for a test, found from the test's working
// directory (go test runs in the package's folder) by walking up to go.mod. When the bundle is absent
// the test is skipped, except when the environment variable CI is set: then a missing bundle fails it,
// so that CI never passes by skipping the conformance tests.
func BundleRoot(tb testing.TB) string {
	tb.Helper()
	root, err := bundleRoot()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("armspec: %v (required when CI is set)", err)
		}
		tb.Skipf("armspec: %v", err)
	}
	return root
}

// LoadForTest loads the bundle found by BundleRoot, failing tb when it does not load.
func LoadForTest(tb testing.TB) *Spec {
	tb.Helper()
	s, err := Load(BundleRoot(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// FindBundle is BundleRoot without a test: the bundle's folder, or why it
// is not there, for tests that run without it and only check more with it.
func FindBundle() (string, error) { return bundleRoot() }

func bundleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for !exists(filepath.Join(dir, "go.mod")) {
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory, so no azure-rest-api-specs bundle beside it")
		}
		dir = parent
	}
	root := filepath.Join(dir, filepath.FromSlash(bundleRel))
	if fi, err := os.Stat(filepath.Join(root, "specification")); err != nil || !fi.IsDir() {
		return "", errors.New("azure-rest-api-specs bundle not found at " + root)
	}
	return root, nil
}
