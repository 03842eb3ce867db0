package hvmodel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// Identity cache.
//
// Reading an EK costs milliseconds on the reference TPM (a fresh simulator per
// seed) and a process start on swtpm, so identities are cached, in memory and
// under idcache/ in the cluster directory so that a fresh process benefits.
//
// Why the cache can never return a stale identity: an entry is keyed by the
// sha256 of the exact bytes of the VM's vTPM state (the sealed guest-state
// file, plus every file of the swtpm state directory on that backend) and
// also records the fingerprint of the vault key that unseals them and the
// backend. The identity is a pure function of those bytes under that key: the
// reference TPM derives its EK from the seed sealed in them, swtpm from the
// endorsement seed in its state files. Every way the vTPM can change (a reset,
// a lost vTPM, a new key) rewrites those bytes (a new seed, sealed with a new
// random nonce), so it changes the key of the lookup; two different states
// would need a sha256 collision to share an entry. On the reference backend
// the bytes that are hashed are the very bytes that get unsealed (read once),
// so a concurrent rewrite cannot pair a new hash with an old identity; on
// swtpm, which rewrites its own files when it runs, a miss holds the VM's lock
// while it hashes, reads and hashes again. A hit is still only used where the
// state could be unlocked: the node's IgvmAgent must run and the vault must
// hold the recorded key, otherwise the identity is reported unknown (""),
// exactly as without the cache.
//
// Why a damaged entry is never returned: the cache is only a cache, so an
// entry is used only when it verifies; anything else is a miss, answered from
// the sealed state, and the recomputed entry replaces it. An entry carries an
// HMAC-SHA256, under the VM's vault key, of all its fields; an edited digit,
// a torn write, an entry of a key the vault no longer holds or one written
// before entries had a MAC fails it, and an identity that is not 64 lowercase
// hex digits fails before that. Checking costs one HMAC per VM (about a
// microsecond), against the EK read that re-deriving the identity would cost.
type cacheEntry struct {
	Content  string `json:"content_sha256"`
	Key      string `json:"key_sha256"`
	Backend  string `json:"backend"`
	Identity string `json:"identity"`
	MAC      string `json:"mac"` // entryMAC of the fields above
}

// entryMAC is the HMAC-SHA256, under the VM's vault key, of e's fields but MAC.
func entryMAC(key []byte, e cacheEntry) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tlreconcile sim idcache v1\x00"))
	for _, f := range []string{e.Content, e.Key, e.Backend, e.Identity} {
		m.Write([]byte(f))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// verifies reports whether e is an intact entry for content on backend, written with key.
func (e cacheEntry) verifies(key []byte, content, backend string) bool {
	if e.Content != content || e.Backend != backend || e.Key != keyFingerprint(key) || !isIdentity(e.Identity) {
		return false
	}
	return hmac.Equal([]byte(e.MAC), []byte(entryMAC(key, e)))
}

// isIdentity reports whether s has the form of a vTPM identity: a hex sha256.
func isIdentity(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// identityJob is one VM whose identity is wanted.
type identityJob struct {
	vm   *vmRecord
	out  *string
	data []byte // guest-state bytes, read once
	hash string // content hash of data (+ swtpm dir)
	key  []byte
	done bool   // answered from the cache
	alt  string // swtpm: the content hash after the read rewrote the state
}

// cacheGet looks up an entry in memory, then on disk; one that does not
// verify under key is a miss, and is dropped from memory.
func (d *Driver) cacheGet(c *cluster, content string, key []byte) (string, bool) {
	d.mu.Lock()
	e, ok := d.cache[content]
	d.mu.Unlock()
	if !ok {
		data, err := os.ReadFile(filepath.Join(c.dir, "idcache", content+".json"))
		if err != nil || json.Unmarshal(data, &e) != nil || e.Content != content {
			return "", false
		}
		d.mu.Lock()
		d.cache[content] = e
		d.mu.Unlock()
	}
	if !e.verifies(key, content, c.file.Backend) {
		d.mu.Lock()
		if d.cache[content] == e {
			delete(d.cache, content)
		}
		d.mu.Unlock()
		return "", false
	}
	return e.Identity, true
}

// cachePut stores the identity read from the state with content hash
// content, sealed under key. The file is not fsynced: a torn entry fails to
// parse or to verify and is simply a miss. The index is marked stale for the
// entry, so the next whole-cluster observe rewrites it even when the entry
// replaced a damaged one under the same name.
func (d *Driver) cachePut(c *cluster, content string, key []byte, identity string) {
	e := cacheEntry{Content: content, Key: keyFingerprint(key), Backend: c.file.Backend, Identity: identity}
	e.MAC = entryMAC(key, e)
	d.mu.Lock()
	d.cache[e.Content] = e
	delete(d.indexed[c.dir], e.Content)
	d.mu.Unlock()
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	path := filepath.Join(c.dir, "idcache", e.Content+".json")
	tmp := path + ".tmp"
	if os.WriteFile(tmp, data, 0o600) == nil {
		_ = os.Rename(tmp, path)
	}
}

// indexName is the one-file copy of the entries in use that a whole-cluster
// observe writes, so the next process loads them with one read instead of one
// per VM. Per-entry files stay the source for single-VM lookups.
const indexName = "index.json"

// cacheLoadIndex merges the cluster's index into memory, once per Driver.
func (d *Driver) cacheLoadIndex(c *cluster) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.indexed[c.dir]; ok {
		return
	}
	var entries []cacheEntry
	data, err := os.ReadFile(filepath.Join(c.dir, "idcache", indexName))
	keys := map[string]bool{}
	if err == nil && json.Unmarshal(data, &entries) == nil {
		for _, e := range entries {
			if e.Content != "" && e.Identity != "" {
				d.cache[e.Content] = e
				keys[e.Content] = true
			}
		}
	}
	d.indexed[c.dir] = keys
}

// cacheWriteIndex writes the entries in use when they differ from the index.
func (d *Driver) cacheWriteIndex(c *cluster, used map[string]bool) {
	d.mu.Lock()
	keys := d.indexed[c.dir]
	same := len(keys) == len(used)
	for k := range used {
		if !keys[k] {
			same = false
			break
		}
	}
	if same {
		d.mu.Unlock()
		return
	}
	entries := make([]cacheEntry, 0, len(used))
	newKeys := make(map[string]bool, len(used))
	for k := range used {
		if e, ok := d.cache[k]; ok {
			entries = append(entries, e)
			newKeys[k] = true
		}
	}
	d.indexed[c.dir] = newKeys
	d.mu.Unlock()
	slices.SortFunc(entries, func(a, b cacheEntry) int { return strings.Compare(a.Content, b.Content) })
	if data, err := json.Marshal(entries); err == nil {
		_ = writeFileAtomic(filepath.Join(c.dir, "idcache", indexName), data, 0o600)
	}
}

// cachePrune drops entries no VM uses any more (after a whole-cluster observe).
func (d *Driver) cachePrune(c *cluster, used map[string]bool) {
	d.mu.Lock()
	for k := range d.cache {
		if !used[k] {
			delete(d.cache, k)
		}
	}
	d.mu.Unlock()
	ents, err := os.ReadDir(filepath.Join(c.dir, "idcache"))
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if name != indexName && filepath.Ext(name) == ".json" && !used[name[:len(name)-len(".json")]] {
			_ = os.Remove(filepath.Join(c.dir, "idcache", name))
		}
	}
}

// contentHash hashes the VM's vTPM state: the guest-state bytes and, on swtpm,
// every file of its state directory in name order.
func (c *cluster) contentHash(vm *vmRecord, guest []byte) (string, error) {
	h := sha256.New()
	h.Write([]byte("vmgs\x00"))
	h.Write(guest)
	if c.file.Backend == BackendSwtpm {
		dir := c.swtpmDir(vm.Node, vm.Name)
		ents, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			data, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "\x00%s\x00%d\x00", n, len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// guestRead is one read of a VM's guest-state file: its bytes and its mode
// (the file-access verdict), from a single open.
type guestRead struct {
	data []byte
	mode fs.FileMode
	err  error
}

func (c *cluster) readGuest(vm *vmRecord) guestRead {
	f, err := os.Open(c.guestPath(vm.Node, vm.Name))
	if err != nil {
		return guestRead{err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return guestRead{err: err}
	}
	data, err := io.ReadAll(f)
	return guestRead{data: data, mode: fi.Mode().Perm(), err: err}
}

// access is the file-access verdict from the real mode bits: any access for
// group or others is a violation (Hyper-V: an ACL beyond host admins).
func (g guestRead) access() drivers.FileAccess {
	switch {
	case g.err != nil:
		return drivers.FileAccessUnknown
	case g.mode&0o077 != 0:
		return drivers.FileAccessViolation
	}
	return drivers.FileAccessHostAdminsOnly
}

// prepareIdentity decides what can be known without a TPM: "" (no TPM, locked,
// no state) is final and returns no job; otherwise it returns a job, marked
// done when the cache answered it.
func (d *Driver) prepareIdentity(c *cluster, vm *vmRecord, out *string) (*identityJob, error) {
	return d.prepareIdentityFrom(c, vm, out, c.readGuest(vm))
}

func (d *Driver) prepareIdentityFrom(c *cluster, vm *vmRecord, out *string, g guestRead) (*identityJob, error) {
	*out = ""
	if !vm.TPMEnabled {
		return nil, nil
	}
	key, err := c.vaultKey(vm.Node, vm.ID)
	if errors.Is(err, errLocked) {
		return nil, nil // the node cannot unlock it: unknown, never invented
	}
	if err != nil {
		return nil, err
	}
	if errors.Is(g.err, fs.ErrNotExist) {
		return nil, nil
	}
	if g.err != nil {
		return nil, g.err
	}
	hash, err := c.contentHash(vm, g.data)
	if err != nil {
		return nil, err
	}
	job := &identityJob{vm: vm, out: out, data: g.data, hash: hash, key: key}
	if id, ok := d.cacheGet(c, hash, key); ok {
		*out = id
		job.done = true
	}
	return job, nil
}

// resolveIdentities answers cache misses with the real TPMs.
func (d *Driver) resolveIdentities(ctx context.Context, c *cluster, all []*identityJob) error {
	var jobs []*identityJob
	for _, j := range all {
		if j != nil && !j.done {
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	if c.file.Backend == BackendSwtpm {
		return d.swtpmIdentities(ctx, c, jobs)
	}
	// One Reference for the batch: the simulator is one per process, and
	// Reference.Do blocks while another Reference (another Driver) holds it,
	// so each batch takes it and gives it back. Nothing here waits for a lock
	// while holding the simulator.
	ref := vtpm.NewReference()
	defer ref.Close()
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := unsealGuest(j.data, j.vm.ID, j.key)
		if errors.Is(err, errLocked) || errors.Is(err, errDamaged) {
			continue // unknown: start-vm and stop-vm say why
		}
		if err != nil {
			return fmt.Errorf("vm/%s: %w", j.vm.Name, err)
		}
		var fp string
		err = ref.Do(st.Seed, func(tr transport.TPM) error {
			var err error
			fp, err = vtpm.EKFingerprint(tr, vtpm.ECC)
			return err
		})
		if err != nil {
			return fmt.Errorf("vm/%s: read vTPM identity: %w", j.vm.Name, err)
		}
		*j.out = fp
		d.cachePut(c, j.hash, j.key, fp)
	}
	return nil
}
