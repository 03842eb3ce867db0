package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// TestApplyCompressedPlanFile: a plan saved in file format "3" (what plan
// -out writes for a fleet) applies like the format "2" file of the same plan,
// and one byte changed in its compressed body is refused before anything is
// applied.
func TestApplyCompressedPlanFile(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
	src, err := os.ReadFile(e.savePlan())
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Read(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	if err := plan.WriteGzip(&gz, p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(gz.Bytes()[:120], []byte(`"format_version":"3"`)) {
		t.Fatalf("WriteGzip header: %.120s", gz.Bytes())
	}
	dir := t.TempDir()
	edited := append([]byte{}, gz.Bytes()...)
	edited[len(edited)-20] ^= 0x01
	if err := os.WriteFile(filepath.Join(dir, "edited.json"), edited, 0o600); err != nil {
		t.Fatal(err)
	}
	e.refused(t, filepath.Join(dir, "edited.json"), nil, "it was changed after `tlreconcile plan -out` wrote it", e.simFiles())
	path := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(path, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := e.run("apply", path); code != 0 {
		t.Fatalf("apply of the format 3 plan file: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, name := range []string{"a", "b"} {
		if vm := e.vm(name); vm.Power != drivers.PowerRunning || vm.Annotations == nil {
			t.Errorf("vm/%s after apply: %+v", name, vm)
		}
	}
	if out, errOut, code := e.run("plan", "-f", e.dir, "--detailed-exitcode"); code != 0 {
		t.Errorf("plan after applying the format 3 file: exit %d, want 0 (in sync)\n%s\n%s", code, out, errOut)
	}
}
