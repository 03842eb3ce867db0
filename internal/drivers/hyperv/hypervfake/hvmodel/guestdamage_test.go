package hvmodel_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
)

// TestDamagedGuestState: a guest-state file that no key can open (null, cut
// short, wrong types, one edited byte of the sealed state, gone) leaves the
// VM observed with everything its record says and its vTPM identity unknown
// (""), never a different identity and never a failed observe (the vTPM reset
// that repairs it runs through apply, which needs an observation). An op that
// would stop the VM refuses while it runs, because the VM could not start
// again; start-vm says the file is damaged; a vTPM reset repairs it.
func TestDamagedGuestState(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, good []byte) []byte
	}{
		{"null", func(*testing.T, []byte) []byte { return []byte("null") }},
		{"empty", func(*testing.T, []byte) []byte { return nil }},
		{"truncated", func(_ *testing.T, good []byte) []byte { return good[:len(good)/2] }},
		{"wrong type", func(t *testing.T, good []byte) []byte { return editJSON(t, good, "nonce", 12) }},
		{"edited sealed byte", func(t *testing.T, good []byte) []byte {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			sealed, err := base64.StdEncoding.DecodeString(m["sealed"].(string))
			if err != nil {
				t.Fatal(err)
			}
			sealed[len(sealed)/2] ^= 0x01
			return editJSON(t, good, "sealed", sealed)
		}},
		{"missing", nil},
	}
	backends(t, func(t *testing.T, backend string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) { damagedGuestCase(t, backend, tc.damage) })
		}
	})
}

func damagedGuestCase(t *testing.T, backend string, damage func(t *testing.T, good []byte) []byte) {
	f := newFixture(t, backend)
	before := f.running("x", "node1")
	path := filepath.Join(f.dir, "sim", cl, "nodes", "node1", "x.vmgs")
	if damage == nil {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	} else {
		good, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, damage(t, good), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range []*hvmodel.Driver{f.d, f.second()} {
		obs, err := d.Observe(context.Background(), f.ref)
		if err != nil {
			t.Fatalf("driver %d: observe failed: %v", i, err)
		}
		if len(obs.VMs) != 1 {
			t.Fatalf("driver %d: observed %v, want x", i, names(obs))
		}
		got := obs.VMs[0]
		if got.VTPMIdentity != "" {
			t.Errorf("driver %d: identity %q, want unknown (old %s)", i, got.VTPMIdentity, before.VTPMIdentity)
		}
		got.VTPMIdentity, got.FileAccess = before.VTPMIdentity, before.FileAccess
		if !equalVM(got, before) {
			t.Errorf("driver %d: observed %+v, want the record as before %+v", i, got, before)
		}
	}
	// A routine change stops the VM first: it must refuse while the
	// VM runs, or the VM stays Off.
	_, err := f.d.Apply(context.Background(), drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpStopVM, Cluster: cl, VM: "x"})
	if err == nil {
		t.Fatal("stop-vm succeeded: the VM cannot start again and is left Off")
	}
	checkGuestMessage(t, err, path)
	if v := f.vm("x"); v.Power != drivers.PowerRunning {
		t.Fatalf("after the refused stop: power %s, want Running", v.Power)
	}
	// Off by other means: start-vm says why it cannot start.
	if err := f.d.Drift(context.Background(), cl, "x", []hvmodel.Setting{{Field: "power", Value: "Off"}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.d.Apply(context.Background(), drivers.ClusterRef{Name: cl}, drivers.Op{Kind: drivers.OpStartVM, Cluster: cl, VM: "x"})
	if err == nil {
		t.Fatal("start-vm on damaged guest state succeeded")
	}
	checkGuestMessage(t, err, path)
	// A vTPM reset (destructive, planned only with --allow-destructive) repairs it.
	f.apply(drivers.OpEnsureKeyProtector, "x", &drivers.Params{Reset: true})
	f.apply(drivers.OpStartVM, "x", nil)
	if v := f.vm("x"); v.VTPMIdentity == "" || v.VTPMIdentity == before.VTPMIdentity {
		t.Errorf("after the reset: identity %q, want a new one", v.VTPMIdentity)
	}
}

func checkGuestMessage(t *testing.T, err error, path string) {
	t.Helper()
	msg := err.Error()
	for _, want := range []string{"vm/x", path, "restore"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

func equalVM(a, b drivers.VM) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
