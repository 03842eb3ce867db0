package cluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Key backup with Backup-TVMKeys semantics (Azure Local 2505+, TvmBackupUtils.psm1): under a
// backup root, one folder per backup named by its UTC time (yyyyMMddHHmmss) with an AES and
// an RSA folder holding one <key name>_<size>.json per key of the cluster's vault, each key
// wrapped under the RSA public key of a wrapping key pair whose private half never reaches
// the cluster. Unlike the sample module, a backup is written into a folder whose name starts
// with ".tlr-" and renamed to its timestamp only when every key is in it, so a kill
// mid-backup leaves no folder that claims to be complete (ListBackups skips the others, and
// the next BackupKeys removes them).

// MinWrappingKeyBits is the smallest RSA wrapping key BackupKeys accepts (the sample module
// makes 2048-bit keys).
const MinWrappingKeyBits = 2048

// WrapAlgorithm is how a backed-up key is wrapped: RSA-OAEP with SHA-256, the key name as the
// OAEP label.
const WrapAlgorithm = "RSA-OAEP-256"

const (
	backupStamp   = "20060102150405"
	backupStaging = ".tlr-"
)

var backupName = regexp.MustCompile(`^[0-9]{14}$`)

// Backup is one complete key backup.
type Backup struct {
	Folder string    // yyyyMMddHHmmss, under the backup root
	Time   time.Time // the folder's time, UTC
	Keys   []string  // the key names it holds, sorted
}

// WrappedKey is one backed-up key file: the key's name, type and size, and its material
// encrypted under the wrapping key. It holds no plaintext key material.
type WrappedKey struct {
	Name           string `json:"name"`
	KeyType        string `json:"kty"`
	KeySize        int    `json:"key_size"`
	Algorithm      string `json:"alg"`
	WrappingKeySHA string `json:"wrapping_key_sha256"` // sha256 of the wrapping public key (PKIX DER)
	Wrapped        []byte `json:"wrapped"`
	VaultName      string `json:"vault"`
	GroupName      string `json:"group"`
}

// BackupKeys backs up every key in the vault of cluster under backupRoot, wrapped under the
// RSA public key (PEM) at wrappingKeyPath. It refuses a missing, unreadable, private or
// short wrapping key, and a second backup within the same second.
func (h *Host) BackupKeys(ctx context.Context, cluster, wrappingKeyPath, backupRoot string) (Backup, error) {
	pub, pubSHA, err := readWrappingKey(wrappingKeyPath)
	if err != nil {
		return Backup{}, err
	}
	if backupRoot == "" || !filepath.IsAbs(backupRoot) {
		return Backup{}, fmt.Errorf("key backup: backup root %q: give an absolute folder", backupRoot)
	}
	var b Backup
	err = h.locked(func() error {
		if _, err := h.readCluster(cluster); err != nil {
			return err
		}
		if err := removeStaging(backupRoot); err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		b = Backup{Folder: now.Format(backupStamp), Time: now}
		final := filepath.Join(backupRoot, b.Folder)
		if _, err := os.Stat(final); err == nil {
			return fmt.Errorf("key backup %s: %w: a backup was taken this second; retry in a second", final, fs.ErrExist)
		}
		keys, err := h.vaultKeys(cluster)
		if err != nil {
			return err
		}
		staging := filepath.Join(backupRoot, backupStaging+b.Folder)
		for _, kf := range keys {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := writeWrapped(staging, kf, pub, pubSHA); err != nil {
				return err
			}
			b.Keys = append(b.Keys, kf.Name)
			if err := h.step("backup-key"); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Join(staging, "RSA"), 0o700); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(staging, "AES"), 0o700); err != nil {
			return err
		}
		if err := simfs.SyncDir(staging); err != nil {
			return err
		}
		if err := os.Rename(staging, final); err != nil {
			return err
		}
		return simfs.SyncDir(backupRoot)
	})
	if err != nil {
		return Backup{}, fmt.Errorf("cluster %s: back up guest state keys: %w", cluster, err)
	}
	sort.Strings(b.Keys)
	return b, nil
}

// readWrappingKey reads an RSA public key from a PEM file (PKCS#1 "RSA PUBLIC KEY", as the
// sample module's ExportRSAPublicKeyPem writes it, or PKIX "PUBLIC KEY").
func readWrappingKey(path string) (*rsa.PublicKey, string, error) {
	fail := func(what string) error {
		return fmt.Errorf("key backup: wrapping key %s: %s", path, what)
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fail("not there: copy the public key (PEM) of your wrapping key pair there")
	}
	if err != nil {
		return nil, "", fail(err.Error())
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, "", fail("not a PEM file: give the RSA public key of your wrapping key pair")
	}
	if strings.Contains(block.Type, "PRIVATE") {
		return nil, "", fail("is a private key: give the public key; the private key must stay off the cluster")
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "PUBLIC KEY":
		var k any
		if k, err = x509.ParsePKIXPublicKey(block.Bytes); err == nil {
			var ok bool
			if pub, ok = k.(*rsa.PublicKey); !ok {
				return nil, "", fail("not an RSA key: give an RSA public key")
			}
		}
	default:
		return nil, "", fail(fmt.Sprintf("PEM block %q: give an RSA PUBLIC KEY or PUBLIC KEY", block.Type))
	}
	if err != nil {
		return nil, "", fail("damaged: " + err.Error())
	}
	if bits := pub.N.BitLen(); bits < MinWrappingKeyBits {
		return nil, "", fail(fmt.Sprintf("too short (%d bits): use an RSA key of at least %d bits", bits, MinWrappingKeyBits))
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, "", fail(err.Error())
	}
	sum := sha256.Sum256(der)
	return pub, hex.EncodeToString(sum[:]), nil
}

// vaultKeys reads every key of cluster's vault, sorted by name. Callers hold the lock.
func (h *Host) vaultKeys(cluster string) ([]keyFile, error) {
	ents, err := os.ReadDir(h.keyDir(cluster))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []keyFile
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		var kf keyFile
		ok, err := readJSON(filepath.Join(h.keyDir(cluster), e.Name()), &kf)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, kf)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func writeWrapped(staging string, kf keyFile, pub *rsa.PublicKey, pubSHA string) error {
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, kf.Material, []byte(kf.Name))
	if err != nil {
		return fmt.Errorf("key %s: wrap: %w", kf.Name, err)
	}
	kty := "AES"
	if !strings.HasPrefix(kf.Type, "AES") {
		kty = "RSA"
	}
	w := WrappedKey{Name: kf.Name, KeyType: kty, KeySize: 8 * len(kf.Material), Algorithm: WrapAlgorithm,
		WrappingKeySHA: pubSHA, Wrapped: wrapped, VaultName: KeyVaultName, GroupName: KeyGroup}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	path := filepath.Join(staging, kty, fmt.Sprintf("%s_%d.json", w.Name, w.KeySize))
	return simfs.WriteFileAtomic(path, b, 0o600)
}

// removeStaging deletes what interrupted backups left under root.
func removeStaging(root string) error {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), backupStaging) {
			if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListBackups lists the complete backups under root, oldest first; a root that does not
// exist has none.
func ListBackups(root string) ([]Backup, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key backups %s: %w", root, err)
	}
	var out []Backup
	for _, e := range ents {
		if !e.IsDir() || !backupName.MatchString(e.Name()) {
			continue
		}
		t, err := time.Parse(backupStamp, e.Name())
		if err != nil {
			continue
		}
		b := Backup{Folder: e.Name(), Time: t}
		for _, kind := range []string{"AES", "RSA"} {
			files, err := os.ReadDir(filepath.Join(root, e.Name(), kind))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("key backup %s: %w", e.Name(), err)
			}
			for _, f := range files {
				base, ok := strings.CutSuffix(f.Name(), ".json")
				if i := strings.LastIndex(base, "_"); ok && i > 0 {
					b.Keys = append(b.Keys, base[:i])
				}
			}
		}
		sort.Strings(b.Keys)
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Folder < out[j].Folder })
	return out, nil
}
