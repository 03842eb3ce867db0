package spec_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(ja, jb)
}

// The same documents split over files differently, in another order, hash the same.
func TestDesiredHashStable(t *testing.T) {
	v1, v2 := vmYAML("v1"), vmYAML("v2", "processors: 4")
	a := writeTree(t, map[string]string{"all.yaml": clusterYAML + "---\n" + v1 + "---\n" + v2})
	b := writeTree(t, map[string]string{"z.yaml": v1, "a.yaml": v2, "m/c.yaml": "# comment first\n" + clusterYAML})
	da, dsa := load(t, a)
	db, dsb := load(t, b)
	if dsa.HasErrors() || dsb.HasErrors() {
		t.Fatalf("unexpected errors:\n%s\n%s", render(a, dsa), render(b, dsb))
	}
	if da.Hash() != db.Hash() {
		t.Errorf("hash differs with file layout: %s vs %s", da.Hash(), db.Hash())
	}
	if len(da.Hash()) != 64 {
		t.Errorf("hash %q is not sha256 hex", da.Hash())
	}
	c := writeTree(t, map[string]string{"all.yaml": clusterYAML + "---\n" + v1 + "---\n" + vmYAML("v2", "processors: 8")})
	dc, _ := load(t, c)
	if dc.Hash() == da.Hash() {
		t.Error("hash did not change when a VM's processors changed")
	}
}

func TestVMHash(t *testing.T) {
	base := spec.VM{Name: "v", Cluster: "c", Processors: 2, Pos: spec.Pos{File: "a.yaml", Line: 1}}
	moved := base
	moved.Pos = spec.Pos{File: "b.yaml", Line: 9}
	if base.Hash() != moved.Hash() {
		t.Error("VM hash depends on the file position")
	}
	changed := base
	changed.SecureBoot.Template = spec.TemplateMicrosoftUEFICA
	if base.Hash() == changed.Hash() {
		t.Error("VM hash ignores the Secure Boot template")
	}
}
