package hvmodel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

// editJSON rewrites one top-level field of a JSON object.
func editJSON(t *testing.T, data []byte, field string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = v
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDamagedVMRecord: a VM record that does not parse or does not describe
// the VM its file is named after never makes the VM vanish (the planner
// would see it absent and create a second one) nor reads as some other VM:
// observe fails naming the file and the fix, and ops refuse without writing.
func TestDamagedVMRecord(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, good []byte) []byte
	}{
		{"null", func(*testing.T, []byte) []byte { return []byte("null\n") }},
		{"empty object", func(*testing.T, []byte) []byte { return []byte("{}") }},
		{"truncated", func(_ *testing.T, good []byte) []byte { return good[:len(good)/2] }},
		{"wrong type", func(t *testing.T, good []byte) []byte { return editJSON(t, good, "processors", "four") }},
		{"other name", func(t *testing.T, good []byte) []byte { return editJSON(t, good, "name", "y") }},
		{"no id", func(t *testing.T, good []byte) []byte { return editJSON(t, good, "id", "") }},
		{"bad node", func(t *testing.T, good []byte) []byte { return editJSON(t, good, "node", "../../etc") }},
		{"bad power", func(t *testing.T, good []byte) []byte { return editJSON(t, good, "power", "Bogus") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, hvmodel.BackendReference)
			f.running("x", "node1")
			f.running("y", "node2")
			path := filepath.Join(f.dir, "sim", cl, "vms", "x.json")
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := tc.damage(t, good)
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			for i, d := range []*hvmodel.Driver{f.d, f.second()} {
				obs, err := d.Observe(context.Background(), f.ref)
				if err == nil {
					t.Fatalf("driver %d: observe succeeded with %d VMs %v: the damaged VM vanished or was invented", i, len(obs.VMs), names(obs))
				}
				checkDamageMessage(t, err, "vm/x", path)
			}
			for _, k := range []drivers.OpKind{drivers.OpStopVM, drivers.OpSetProcessor, drivers.OpSetAnnotations} {
				_, err := f.d.Apply(context.Background(), drivers.ClusterRef{Name: cl}, drivers.Op{Kind: k, Cluster: cl, VM: "x", Params: &drivers.Params{Processors: 2}})
				if err == nil {
					t.Fatalf("%s on a damaged record succeeded", k)
				}
				checkDamageMessage(t, err, "vm/x", path)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, bad) {
				t.Errorf("an op rewrote the damaged record:\n%s", now)
			}
			if stray, _ := filepath.Glob(filepath.Join(f.dir, "sim", cl, "vms", ".json")); len(stray) > 0 {
				t.Errorf("an op wrote a record without a name: %v", stray)
			}
			// The other VM is unaffected when asked for alone.
			if v, err := f.d.ObserveVM(context.Background(), f.ref, "y"); err != nil || v.Power != drivers.PowerRunning {
				t.Errorf("healthy VM y: %v %v", v, err)
			}
		})
	}
}

func checkDamageMessage(t *testing.T, err error, vm, path string) {
	t.Helper()
	msg := err.Error()
	for _, want := range []string{vm, path, "damaged", "restore"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "delete the cluster directory") {
		t.Errorf("error %q advises deleting every VM of the cluster", msg)
	}
}

func names(obs *drivers.Observed) []string {
	var out []string
	for _, v := range obs.VMs {
		out = append(out, v.Name)
	}
	return out
}
