package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must not panic or hang,
// and every diagnostic must be well formed.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../../examples/*/*.yaml", yamlSuiteDir + "/*/in.yaml"} {
		files, _ := filepath.Glob(glob)
		for i, p := range files {
			if i >= 60 {
				break
			}
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(clusterYAML + "---\n" + vmYAML("v1", "placement: {node: n9}")))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("\t- x\n"))
	f.Add([]byte{0xff, 0xfe, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ds := loadWithin(t, string(data), 20*time.Second)
		for _, d := range ds {
			if d.Rule == "" || d.File != spec.StdinName || d.Line < 0 || d.Column < 0 ||
				(d.Severity != spec.SeverityError && d.Severity != spec.SeverityWarning) || !strings.Contains(d.Message, ";") {
				t.Fatalf("malformed diagnostic %+v", d)
			}
		}
	})
}
