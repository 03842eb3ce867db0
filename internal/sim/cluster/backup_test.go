package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writePEM writes a PEM block to a new file and returns its path.
func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wrap.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestBackupKeysWrapsEveryKeyAndListsIt(t *testing.T) {
	e := newCrashEnv(t)
	h := e.open()
	ids := []string{e.placeMachine(h, "/m/avd-01"), e.placeMachine(h, "/m/avd-02")}
	slices.Sort(ids)
	priv := rsaKey(t, 2048)
	wrap := writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&priv.PublicKey))
	root := t.TempDir()

	b, err := h.BackupKeys(context.Background(), "c1", wrap, root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Keys, ids) || !backupName.MatchString(b.Folder) || time.Since(b.Time) > time.Minute {
		t.Fatalf("backup = %+v, want a timestamped folder holding %v", b, ids)
	}
	list, err := ListBackups(root)
	if err != nil || len(list) != 1 || list[0].Folder != b.Folder || !slices.Equal(list[0].Keys, ids) || !list[0].Time.Equal(b.Time) {
		t.Fatalf("ListBackups = %+v, %v; want the one backup %+v", list, err, b)
	}
	for _, id := range ids {
		material, ok, err := h.readKey("c1", id)
		if err != nil || !ok {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(root, b.Folder, "AES", id+"_256.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, clear := range [][]byte{material, []byte(hex.EncodeToString(material)), []byte(base64.StdEncoding.EncodeToString(material))} {
			if bytes.Contains(raw, clear) {
				t.Fatalf("backup of %s holds the key material in plain text", id)
			}
		}
		var w WrappedKey
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		got, err := rsa.DecryptOAEP(sha256.New(), nil, priv, w.Wrapped, []byte(id))
		if err != nil || !bytes.Equal(got, material) {
			t.Fatalf("unwrapping %s with the private key: %v; want the vault's key", id, err)
		}
		if w.Name != id || w.KeyType != "AES" || w.KeySize != 256 || w.Algorithm != WrapAlgorithm {
			t.Errorf("wrapped key header = %+v", w)
		}
	}
}

func TestBackupKeysRefusesBadInput(t *testing.T) {
	e := newCrashEnv(t)
	h := e.open()
	e.place(h)
	good := rsaKey(t, 2048)
	short := rsaKey(t, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	notPEM := filepath.Join(t.TempDir(), "wrap.txt")
	_ = os.WriteFile(notPEM, []byte("ssh-rsa AAAA"), 0o600)
	goodPath := writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&good.PublicKey))
	tests := []struct {
		name, wrap, root, want string
	}{
		{"missing wrapping key", filepath.Join(t.TempDir(), "absent.pem"), t.TempDir(), "not there: copy the public key"},
		{"not PEM", notPEM, t.TempDir(), "not a PEM file"},
		{"private key", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(good)), t.TempDir(), "is a private key"},
		{"short key", writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&short.PublicKey)), t.TempDir(), "too short (1024 bits)"},
		{"EC key", writePEM(t, "PUBLIC KEY", ecDER), t.TempDir(), "not an RSA key"},
		{"damaged key", writePEM(t, "RSA PUBLIC KEY", []byte{1, 2, 3}), t.TempDir(), "damaged"},
		{"relative root", goodPath, "backups", "give an absolute folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.BackupKeys(context.Background(), "c1", tt.wrap, tt.root)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("BackupKeys: %v; want an error saying %q", err, tt.want)
			}
			if list, _ := ListBackups(tt.root); len(list) != 0 {
				t.Errorf("a refused backup left %v", list)
			}
		})
	}
	t.Run("PKIX public key accepted", func(t *testing.T) {
		der, _ := x509.MarshalPKIXPublicKey(&good.PublicKey)
		if _, err := h.BackupKeys(context.Background(), "c1", writePEM(t, "PUBLIC KEY", der), t.TempDir()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a second backup in the same second", func(t *testing.T) {
		root := t.TempDir()
		now := time.Now().UTC()
		for _, d := range []time.Duration{0, time.Second} {
			_ = os.MkdirAll(filepath.Join(root, now.Add(d).Format(backupStamp)), 0o700)
		}
		if _, err := h.BackupKeys(context.Background(), "c1", goodPath, root); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "retry in a second") {
			t.Fatalf("BackupKeys: %v; want fs.ErrExist saying to retry", err)
		}
	})
}

// TestKillDuringBackup: a backup killed after its first key leaves no folder that
// ListBackups reports, and the next backup removes the leftover and completes.
func TestKillDuringBackup(t *testing.T) {
	e := newCrashEnv(t)
	h := e.open()
	ids := []string{e.placeMachine(h, "/m/avd-01"), e.placeMachine(h, "/m/avd-02")}
	slices.Sort(ids)
	priv := rsaKey(t, 2048)
	wrap := writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&priv.PublicKey))
	root := t.TempDir()

	killAt(h, "backup-key")
	if _, err := h.BackupKeys(context.Background(), "c1", wrap, root); !errors.Is(err, errKilled) {
		t.Fatalf("BackupKeys: %v, want the kill", err)
	}
	left, _ := os.ReadDir(root)
	if len(left) != 1 || !strings.HasPrefix(left[0].Name(), backupStaging) {
		t.Fatalf("after the kill the root holds %v; want one staging folder", left)
	}
	if list, err := ListBackups(root); err != nil || len(list) != 0 {
		t.Fatalf("ListBackups after a kill = %v, %v; want no backup", list, err)
	}

	h2 := e.open()
	b, err := h2.BackupKeys(context.Background(), "c1", wrap, root)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != b.Folder || !slices.Equal(b.Keys, ids) {
		t.Fatalf("after the re-run the root holds %v (backup %+v); want only the complete backup of %v", ents, b, ids)
	}
}
