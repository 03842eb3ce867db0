package hvmodel

import (
	"context"
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

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// guestState is the vTPM state sealed inside a VM's guest-state file. Seed
// seeds the reference TPM's hierarchies, so the EK, and with it the VM's vTPM
// identity, is a function of Seed alone; Epoch counts resets and makes the
// swtpm backend's guest file change on a reset too.
type guestState struct {
	Seed  int64 `json:"seed"`
	Epoch int   `json:"epoch"`
}

// guestFile is nodes/<node>/<vm>.vmgs: guestState sealed with AES-256-GCM under
// the VM's key from the cluster key vault, the VM id as associated data.
type guestFile struct {
	Format    int    `json:"format"`
	VMID      string `json:"vm_id"`
	KeySHA256 string `json:"key_sha256"` // which vault key sealed it
	Nonce     []byte `json:"nonce"`
	Sealed    []byte `json:"sealed"`
}

// errLocked means the guest state cannot be unlocked here: the node's IgvmAgent
// does not run, or the vault has no key for the VM.
var errLocked = errors.New("guest state is locked")

// errDamaged means the guest state cannot be opened with its own key: the
// file is missing, cut short, edited or not a guest-state file. Unlike
// errLocked it does not pass when an agent starts; only restoring the file or
// resetting the vTPM repairs it, so the VM cannot start until then.
var errDamaged = errors.New("guest state is damaged")

// fixGuest says how to repair damaged guest state.
const fixGuest = "restore the file from a backup, or reset the vTPM (ensure-key-protector with reset, or disable-tpm: either destroys the secrets sealed in it)"

// newVaultKey creates the VM's key in the cluster key vault.
func (c *cluster) newVaultKey(id string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(c.vaultPath(id), key, 0o600); err != nil {
		return nil, fmt.Errorf("key vault: store key: %w", err)
	}
	return key, nil
}

// vaultKey reads the VM's key on behalf of node: the key vault releases a
// guest-state key only to a node whose IgvmAgent runs.
func (c *cluster) vaultKey(node, id string) ([]byte, error) {
	n := c.node(node)
	if n == nil || n.IgvmAgent != drivers.AgentRunning {
		return nil, errLocked
	}
	key, err := os.ReadFile(c.vaultPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errLocked
	}
	if err != nil {
		return nil, fmt.Errorf("key vault: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("key vault: key of VM %s is %d bytes, not 32: the vault is damaged", id, len(key))
	}
	return key, nil
}

func keyFingerprint(key []byte) string {
	s := sha256.Sum256(key)
	return hex.EncodeToString(s[:])
}

// sealGuest writes the VM's guest-state file on its node, keeping the file's
// mode (its ACL) when it already exists.
func (c *cluster) sealGuest(vm *vmRecord, key []byte, st guestState) error {
	plain, err := json.Marshal(st)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	gf := guestFile{Format: stateFormat, VMID: vm.ID, KeySHA256: keyFingerprint(key), Nonce: make([]byte, aead.NonceSize())}
	if _, err := rand.Read(gf.Nonce); err != nil {
		return err
	}
	gf.Sealed = aead.Seal(nil, gf.Nonce, plain, []byte(vm.ID))
	data, err := json.Marshal(gf)
	if err != nil {
		return err
	}
	path := c.guestPath(vm.Node, vm.Name)
	perm := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := writeFileAtomic(path, data, perm); err != nil {
		return fmt.Errorf("guest state: %w", err)
	}
	return nil
}

// unsealGuest opens sealed guest-state bytes with key: errLocked when they
// were sealed under another key, errDamaged when they cannot be opened with
// their own.
func unsealGuest(data []byte, vmID string, key []byte) (guestState, error) {
	var gf *guestFile
	if err := json.Unmarshal(data, &gf); err != nil {
		return guestState{}, fmt.Errorf("%v: %w", err, errDamaged)
	}
	switch {
	case gf == nil:
		return guestState{}, fmt.Errorf("it holds null: %w", errDamaged)
	case gf.Format != stateFormat:
		return guestState{}, fmt.Errorf("format %d, this build reads %d: %w", gf.Format, stateFormat, errDamaged)
	case gf.VMID != vmID:
		return guestState{}, fmt.Errorf("it belongs to VM id %q: %w", gf.VMID, errDamaged)
	case gf.KeySHA256 != keyFingerprint(key):
		return guestState{}, errLocked
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return guestState{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return guestState{}, err
	}
	if len(gf.Nonce) != aead.NonceSize() {
		return guestState{}, fmt.Errorf("bad nonce: %w", errDamaged)
	}
	// The key is the one that sealed it (its fingerprint matches), so a
	// failure to authenticate means the bytes were changed.
	plain, err := aead.Open(nil, gf.Nonce, gf.Sealed, []byte(vmID))
	if err != nil {
		return guestState{}, fmt.Errorf("the sealed state does not authenticate under the key that sealed it: %w", errDamaged)
	}
	var st guestState
	if err := json.Unmarshal(plain, &st); err != nil {
		return guestState{}, fmt.Errorf("%v: %w", err, errDamaged)
	}
	return st, nil
}

// openGuest unlocks the VM's guest state on its current node.
func (c *cluster) openGuest(vm *vmRecord) (guestState, []byte, error) {
	key, err := c.vaultKey(vm.Node, vm.ID)
	if err != nil {
		return guestState{}, nil, err
	}
	st, err := c.unsealGuestFile(vm, key)
	return st, key, err
}

// unsealGuestFile opens the VM's guest-state file with key; errors of a
// damaged or missing file name the file.
func (c *cluster) unsealGuestFile(vm *vmRecord, key []byte) (guestState, error) {
	path := c.guestPath(vm.Node, vm.Name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return guestState{}, fmt.Errorf("guest-state file %s is missing from node %s: %w", path, vm.Node, errDamaged)
	}
	if err != nil {
		return guestState{}, err
	}
	st, err := unsealGuest(data, vm.ID, key)
	if errors.Is(err, errDamaged) {
		return guestState{}, fmt.Errorf("guest-state file %s: %w", path, err)
	}
	return st, err
}

// guestDamage returns the errDamaged error of a VM whose guest state could
// not be opened even where its node can unlock it, so that it could not start
// again; nil when it opens or the vault has no key to judge it by (a lost
// vTPM, which start-vm reports). It asks the vault directly: the question is
// whether the file is intact, not whether this node may unlock it now.
func (c *cluster) guestDamage(vm *vmRecord) error {
	key, err := c.rawVaultKey(vm.ID)
	if err != nil {
		return nil
	}
	if _, err := c.unsealGuestFile(vm, key); errors.Is(err, errDamaged) {
		return err
	}
	return nil
}

// resetVTPM gives the VM a brand-new vTPM: a fresh random seed (and, on swtpm,
// a freshly manufactured state directory). Everything sealed in the old vTPM is
// gone, which is why the planner guards every path that gets here. The caller
// holds the VM lock. It needs the vault key, not the node's agent: creating or
// wiping state never needs to unlock the old one.
func (d *Driver) resetVTPM(ctx context.Context, c *cluster, vm *vmRecord, key []byte, epoch int) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	st := guestState{Seed: int64(binary.LittleEndian.Uint64(b[:]) >> 1), Epoch: epoch}
	if c.file.Backend == BackendSwtpm {
		if err := d.swtpmManufacture(ctx, c.swtpmDir(vm.Node, vm.Name), key); err != nil {
			return err
		}
	}
	if err := c.sealGuest(vm, key, st); err != nil {
		return err
	}
	if vm.Attestation != nil { // a new vTPM: the next attestation binds its EK
		a := *vm.Attestation
		a.EK, vm.AttestationAK = "", ""
		vm.Attestation = &a
	}
	return nil
}

// rawVaultKey reads the VM's key without the agent check, for resets.
func (c *cluster) rawVaultKey(id string) ([]byte, error) {
	key, err := os.ReadFile(c.vaultPath(id))
	if err != nil {
		return nil, fmt.Errorf("key vault: key of VM %s: %w", id, err)
	}
	return key, nil
}

// guestEpoch returns the reset count sealed in the guest state, or 0 when it
// cannot be read; it only has to make the next epoch differ.
func (c *cluster) guestEpoch(vm *vmRecord, key []byte) int {
	data, err := os.ReadFile(c.guestPath(vm.Node, vm.Name))
	if err != nil {
		return 0
	}
	st, err := unsealGuest(data, vm.ID, key)
	if err != nil {
		return 0
	}
	return st.Epoch
}
