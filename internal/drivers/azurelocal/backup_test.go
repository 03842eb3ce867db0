package azurelocal

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestDriverBacksUpGuestStateKeys: backup-guest-state-keys runs
// Backup-TVMKeys on a node, and the next Observe (with the destination in
// the ref) reports the newest backup holding the VM's key.
func TestDriverBacksUpGuestStateKeys(t *testing.T) {
	p := newSimPlatform(t)
	p.apply(tlCreate("avd-01"))
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrap := filepath.Join(dir, "wrap.pem")
	if err := os.WriteFile(wrap, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)}), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "backups")
	p.ref.KeyBackupRoot = dest
	if obs, err := p.d.Observe(t.Context(), p.ref); err != nil || obs.KeyBackup != nil {
		t.Fatalf("before any backup: %+v %v", obs.KeyBackup, err)
	}
	r := p.apply(drivers.Op{Kind: drivers.OpBackupGuestStateKeys, Node: "node1",
		Params: &drivers.Params{KeyBackup: &drivers.KeyBackupTarget{WrappingKey: wrap, Destination: dest}}})
	if !r.Changed || !strings.Contains(r.Message, "key(s)") {
		t.Fatalf("backup: %+v", r)
	}
	obs, err := p.d.Observe(t.Context(), p.ref)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, v := range obs.VMs {
		if v.Name == "avd-01" {
			id = v.ID
		}
	}
	if obs.KeyBackup == nil || obs.KeyBackup.Time.IsZero() || !slices.ContainsFunc(obs.KeyBackup.Keys, func(k string) bool { return strings.EqualFold(k, id) }) {
		t.Fatalf("after the backup: %+v (VM ID %s)", obs.KeyBackup, id)
	}
}
