package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// TPM runs functions on a TPM manufactured from a seed: *vtpm.Reference. Do
// finds it as the last call left it; Boot finds it just powered on (PCRs at
// their reset values, the seed's EK), where a guest's boot starts.
type TPM interface {
	Do(seed int64, fn func(tr transport.TPM) error) error
	Boot(seed int64, fn func(tr transport.TPM) error) error
}

// guestState is the vTPM state sealed in a guest state file: the seed the
// reference TPM manufactures its hierarchies (and so its EK) from, and the
// reset count, so a reset always changes the sealed bytes.
type guestState struct {
	Seed  int64 `json:"seed"`
	Epoch int   `json:"epoch"`
	// Kept is what guest commands keep bound to this vTPM (Guest.Keep), such
	// as key blobs only this TPM can load; a new vTPM starts without it.
	Kept map[string][]byte `json:"kept,omitempty"`
}

// sealedFile is a guest state file: guestState sealed with AES-256-GCM under
// the VM's guest state protection key, the VM ID as associated data.
type sealedFile struct {
	Format int    `json:"format"`
	VMID   string `json:"vm_id"`
	KeyFP  string `json:"key_sha256"`
	Nonce  []byte `json:"nonce"`
	Sealed []byte `json:"sealed"`
}

// keyFile is one key of the MOC key vault. Material never leaves the package.
type keyFile struct {
	Name     string    `json:"name"`
	Group    string    `json:"group"`
	Vault    string    `json:"vault"`
	Type     string    `json:"type"`
	Created  time.Time `json:"created"`
	Material []byte    `json:"material"`
}

// errLocked: the guest state cannot be opened with the key at hand.
var errLocked = errors.New("guest state is locked: the key does not open it")

func fingerprint(key []byte) string {
	s := sha256.Sum256(key)
	return hex.EncodeToString(s[:])
}

// readKey returns the VM's key in cluster's vault; ok is false when absent.
func (h *Host) readKey(cluster, vmID string) (key []byte, ok bool, err error) {
	var kf keyFile
	ok, err = readJSON(h.keyPath(cluster, vmID), &kf)
	if err != nil || !ok {
		return nil, false, err
	}
	if len(kf.Material) != 32 || kf.Name != vmID {
		return nil, false, fmt.Errorf("key vault %s: key %s is damaged", KeyVaultName, vmID)
	}
	return kf.Material, true, nil
}

// newKey creates a fresh AES-256 key named vmID in cluster's vault.
func (h *Host) newKey(cluster, vmID string) ([]byte, error) {
	kf := keyFile{Name: vmID, Group: KeyGroup, Vault: KeyVaultName, Type: "AES-256", Created: time.Now().UTC(), Material: make([]byte, 32)}
	if _, err := rand.Read(kf.Material); err != nil {
		return nil, err
	}
	if err := simfs.WriteJSON(h.keyPath(cluster, vmID), kf); err != nil {
		return nil, fmt.Errorf("key vault %s: store key %s: %w", KeyVaultName, vmID, err)
	}
	return kf.Material, nil
}

// importKey copies the VM's key from one cluster's vault to another's, the
// export/import of trusted-launch-vm-import-key.md.
func (h *Host) importKey(from, to, vmID string) (bool, error) {
	var kf keyFile
	ok, err := readJSON(h.keyPath(from, vmID), &kf)
	if err != nil || !ok {
		return false, err
	}
	return true, simfs.WriteJSON(h.keyPath(to, vmID), kf)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(vmID string, key []byte, st guestState) ([]byte, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	sf := sealedFile{Format: format, VMID: vmID, KeyFP: fingerprint(key), Nonce: make([]byte, aead.NonceSize())}
	if _, err := rand.Read(sf.Nonce); err != nil {
		return nil, err
	}
	sf.Sealed = aead.Seal(nil, sf.Nonce, plain, []byte(vmID))
	return json.Marshal(sf)
}

func unseal(data []byte, vmID string, key []byte) (guestState, error) {
	var sf sealedFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return guestState{}, fmt.Errorf("guest state of %s is damaged: %w", vmID, err)
	}
	if sf.VMID != vmID || sf.KeyFP != fingerprint(key) {
		return guestState{}, errLocked
	}
	aead, err := newAEAD(key)
	if err != nil {
		return guestState{}, err
	}
	if len(sf.Nonce) != aead.NonceSize() {
		return guestState{}, fmt.Errorf("guest state of %s is damaged: bad nonce", vmID)
	}
	plain, err := aead.Open(nil, sf.Nonce, sf.Sealed, []byte(vmID))
	if err != nil {
		return guestState{}, errLocked
	}
	var st guestState
	if err := json.Unmarshal(plain, &st); err != nil {
		return guestState{}, fmt.Errorf("guest state of %s is damaged: %w", vmID, err)
	}
	return st, nil
}

// freshState is a newly manufactured vTPM: a random seed, hence a new EK.
func freshState(epoch int) (guestState, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return guestState{}, err
	}
	return guestState{Seed: int64(binary.LittleEndian.Uint64(b[:]) >> 1), Epoch: epoch}, nil
}

// openState returns the vTPM state sealed in the guest state file rec names
// and the key that opens it; ok is false when the VM's key is not in its
// cluster's vault, is not the one that sealed the state, or the file is gone.
func (h *Host) openState(rec *vmRecord) (st guestState, key []byte, ok bool, err error) {
	key, ok, err = h.readKey(rec.Cluster, rec.VMID)
	if err != nil || !ok || fingerprint(key) != rec.KeyFingerprint {
		return guestState{}, nil, false, err
	}
	data, err := os.ReadFile(h.statePath(rec.Cluster, rec.VMID, rec.StateGen))
	if errors.Is(err, fs.ErrNotExist) {
		return guestState{}, nil, false, nil
	}
	if err != nil {
		return guestState{}, nil, false, err
	}
	st, err = unseal(data, rec.VMID, key)
	if errors.Is(err, errLocked) {
		return guestState{}, nil, false, nil
	} else if err != nil {
		return guestState{}, nil, false, err
	}
	return st, key, true, nil
}

// newVTPM gives rec a freshly manufactured vTPM sealed with its key, creating
// the key when the vault has none ("if a VM starts on a system without its
// key, a new key is created, which resets the vTPM", DESIGN §1.1). A key that
// is present but does not open the state (the leftover of an interrupted
// reset) is reused, so a re-run never makes a second key. The writes run in
// the order a kill can interrupt anywhere: key, then the sealed state under
// the next generation's name, then the record naming both (the commit), then
// the old generation's file goes. Before the commit the record still names the
// old state, so no reader ever pairs a new vTPM with an old record. The caller
// sets rec's other fields (power, node) and holds the lock.
func (h *Host) newVTPM(rec *vmRecord) error {
	key, ok, err := h.readKey(rec.Cluster, rec.VMID)
	if err != nil {
		return err
	}
	if !ok {
		if key, err = h.newKey(rec.Cluster, rec.VMID); err != nil {
			return err
		}
	}
	if err := h.step("key"); err != nil {
		return err
	}
	first := rec.StateGen == 0
	if !first {
		rec.Resets++
	}
	st, err := freshState(rec.Resets)
	if err != nil {
		return err
	}
	if err := h.measureBoot(rec, st.Seed); err != nil {
		return fmt.Errorf("vm %s: boot the guest: %w", rec.Name, err)
	}
	data, err := seal(rec.VMID, key, st)
	if err != nil {
		return err
	}
	old := rec.StateGen
	rec.StateGen++
	rec.KeyFingerprint = fingerprint(key)
	if err := simfs.WriteFileAtomic(h.statePath(rec.Cluster, rec.VMID, rec.StateGen), data, 0o600); err != nil {
		return fmt.Errorf("vm %s: write guest state: %w", rec.Name, err)
	}
	if err := h.step("state"); err != nil {
		return err
	}
	if err := h.writeRecord(rec); err != nil {
		return err
	}
	if err := h.step("record"); err != nil {
		return err
	}
	if first {
		return nil
	}
	return removeFile(h.statePath(rec.Cluster, rec.VMID, old))
}

// boot starts rec on its node and boots its guest (boot.go): with the VM's
// key its vTPM comes back as it was and measures this boot; without it, the
// platform creates a new key and a new vTPM, which measures the boot.
func (h *Host) boot(c *clusterFile, rec *vmRecord) error {
	n := c.node(rec.Node)
	if n == nil {
		return fmt.Errorf("vm %s: node %s: %w", rec.Name, rec.Node, ErrNotFound)
	}
	if err := n.canHost(); err != nil {
		return fmt.Errorf("vm %s: start: %w", rec.Name, err)
	}
	rec.Power = PowerRunning
	if rec.StateGen == 0 && rec.Isolation != isolationTL {
		rec.Boot.Boots++ // no vTPM: nothing measures this boot
		return h.writeRecord(rec)
	}
	st, _, ok, err := h.openState(rec)
	if err != nil {
		return fmt.Errorf("vm %s: start: %w", rec.Name, err)
	}
	if !ok {
		return h.newVTPM(rec)
	}
	if err := h.measureBoot(rec, st.Seed); err != nil {
		return fmt.Errorf("vm %s: boot the guest: %w", rec.Name, err)
	}
	return h.writeRecord(rec)
}
