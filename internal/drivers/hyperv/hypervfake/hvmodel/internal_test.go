package hvmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestWriteFileAtomic: concurrent readers only ever see a whole old or a whole
// new file while writers replace it.
func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	a, b := bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 256<<10)
	if err := writeFileAtomic(path, a, 0o600); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var torn sync.Once
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(got, a) && !bytes.Equal(got, b) {
					torn.Do(func() { t.Errorf("reader saw a torn file (%d bytes, err %v)", len(got), err) })
				}
			}
		}()
	}
	for i := range 50 {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := writeFileAtomic(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

// TestLockExcludesInstances: the flock excludes other opens in this process
// (other Driver instances), so a read-modify-write under it never loses an update.
func TestLockExcludesInstances(t *testing.T) {
	dir := t.TempDir()
	lockPath, counter := filepath.Join(dir, "l"), filepath.Join(dir, "n")
	if err := writeJSONAtomic(counter, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const workers, rounds = 8, 25
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				l, err := lock(lockPath)
				if err != nil {
					t.Error(err)
					return
				}
				var n int
				if err := readJSON(counter, &n); err != nil {
					t.Error(err)
				}
				if err := writeJSONAtomic(counter, n+1); err != nil {
					t.Error(err)
				}
				l.unlock()
			}
		}()
	}
	wg.Wait()
	var n int
	if err := readJSON(counter, &n); err != nil || n != workers*rounds {
		t.Fatalf("counter = %d (%v), want %d: an update was lost", n, err, workers*rounds)
	}
}

func newTestCluster(t testing.TB) (*Driver, drivers.ClusterRef) {
	t.Helper()
	d, err := New(drivers.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ref := drivers.ClusterRef{Name: "c", Nodes: []string{"n1", "n2"}}
	if _, err := d.Observe(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	for _, op := range []drivers.OpKind{drivers.OpCreateVM, drivers.OpEnsureKeyProtector, drivers.OpEnableTPM} {
		p := &drivers.Params{SecurityType: drivers.SecurityTrustedLaunch}
		if _, err := d.Apply(context.Background(), drivers.ClusterRef{Name: "c"}, drivers.Op{Kind: op, Cluster: "c", VM: "v", Params: p}); err != nil {
			t.Fatal(err)
		}
	}
	return d, ref
}

// TestIdentityCache: a fresh Driver (a fresh process) answers from the
// persisted cache, and a changed vTPM state never hits the old entry.
func TestIdentityCache(t *testing.T) {
	d, ref := newTestCluster(t)
	ctx := context.Background()
	first, err := d.ObserveVM(ctx, ref, "v")
	if err != nil || first.VTPMIdentity == "" {
		t.Fatalf("observe: %v %v", first, err)
	}
	c, _ := d.loadCluster("c")
	ents := cacheEntries(c)
	if len(ents) != 1 {
		t.Fatalf("cache entries %v, want 1", ents)
	}
	// Plant a marker identity, with a valid MAC, in the persisted entry: a
	// fresh Driver must return it, which proves it read the cache instead of
	// the TPM.
	var e cacheEntry
	data, _ := os.ReadFile(ents[0])
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	marker := strings.Repeat("ab", 32)
	e.Identity = marker
	e.MAC = entryMAC(mustKey(t, c), e)
	data, _ = json.Marshal(e)
	if err := os.WriteFile(ents[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, _ := New(drivers.Config{StateDir: d.stateDir})
	if got, _ := fresh.ObserveVM(ctx, ref, "v"); got.VTPMIdentity != marker {
		t.Fatalf("fresh driver: identity %q, want the persisted cache entry", got.VTPMIdentity)
	}
	// A reset rewrites the guest state, so the lookup misses and the real,
	// new identity comes back: neither the marker nor the old one.
	if _, err := fresh.Apply(ctx, drivers.ClusterRef{Name: "c"}, drivers.Op{Kind: drivers.OpEnsureKeyProtector, Cluster: "c", VM: "v", Params: &drivers.Params{Reset: true}}); err != nil {
		t.Fatal(err)
	}
	for _, drv := range []*Driver{d, fresh} {
		got, _ := drv.ObserveVM(ctx, ref, "v")
		if got.VTPMIdentity == marker || got.VTPMIdentity == first.VTPMIdentity || len(got.VTPMIdentity) != 64 {
			t.Errorf("after reset: identity %q (old %s): the cache returned a stale identity", got.VTPMIdentity, first.VTPMIdentity)
		}
	}
	// A whole-cluster observe prunes entries of states that no longer exist.
	if _, err := d.Observe(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if ents := cacheEntries(c); len(ents) != 1 {
		t.Errorf("after prune: %d entries, want 1", len(ents))
	}
	// A fresh Driver's whole-cluster observe loads the index in one read.
	idx := filepath.Join(c.dir, "idcache", indexName)
	var entries []cacheEntry
	if data, err := os.ReadFile(idx); err != nil || json.Unmarshal(data, &entries) != nil || len(entries) != 1 {
		t.Fatalf("index after observe: %v, %d entries", err, len(entries))
	}
	indexMarker := strings.Repeat("cd", 32)
	entries[0].Identity = indexMarker
	entries[0].MAC = entryMAC(mustKey(t, c), entries[0])
	data, _ = json.Marshal(entries)
	if err := os.WriteFile(idx, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh2, _ := New(drivers.Config{StateDir: d.stateDir})
	if obs, err := fresh2.Observe(ctx, ref); err != nil || obs.VMs[0].VTPMIdentity != indexMarker {
		t.Fatalf("fresh driver observe: %v, want the identity from the index", err)
	}
	// A hit is not used where the state cannot be unlocked.
	if err := d.SetAgent("c", "n1", drivers.AgentStopped); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.ObserveVM(ctx, ref, "v"); got.VTPMIdentity != "" {
		t.Errorf("agent stopped: identity %q from the cache, want unknown", got.VTPMIdentity)
	}
}

// cacheEntries lists the per-entry cache files (not the index).
func cacheEntries(c *cluster) []string {
	ents, _ := filepath.Glob(filepath.Join(c.dir, "idcache", "*.json"))
	return slices.DeleteFunc(ents, func(p string) bool { return filepath.Base(p) == indexName })
}

// FuzzUnsealGuest: guest-state files come from disk, where anyone with access
// can change them; a damaged file is an error, never a panic or an identity.
func FuzzUnsealGuest(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	c := &cluster{dir: f.TempDir(), file: clusterFile{Name: "c"}}
	if err := os.MkdirAll(c.nodeDir("n"), 0o700); err != nil {
		f.Fatal(err)
	}
	vm := &vmRecord{Name: "v", ID: "id", Node: "n"}
	if err := c.sealGuest(vm, key, guestState{Seed: 42, Epoch: 1}); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(c.guestPath("n", "v"))
	f.Add(good)
	f.Add([]byte(`{"format":1,"vm_id":"id","nonce":"AAAA","sealed":"AAAA"}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := unsealGuest(data, "id", key)
		if err != nil {
			return
		}
		// Whatever opens must be a guest file of this VM under this key
		// (AES-GCM authenticates the rest).
		var gf guestFile
		if json.Unmarshal(data, &gf) != nil || gf.VMID != "id" || gf.KeySHA256 != keyFingerprint(key) || st.Epoch < 0 {
			t.Fatalf("opened a guest file that is not this VM's: %q", data)
		}
	})
}

// FuzzDriftSetting: --set values come from the command line.
func FuzzDriftSetting(f *testing.F) {
	d, ref := newTestCluster(f)
	for _, s := range []string{"secureBoot=false", "power=Running", "processors=-1", "node=../../x", "annotations.protect=1", "=", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseSetting(s)
		if err != nil {
			return
		}
		_ = d.Drift(context.Background(), "c", "v", []Setting{set})
		if _, err := d.ObserveVM(context.Background(), ref, "v"); err != nil {
			t.Fatalf("after drift %q the VM cannot be observed: %v", s, err)
		}
	})
}

// TestIdentityCacheEntryVerifies: the cache is only a cache. An entry that
// does not verify (an edited digit, a wrong length, not hex, written under
// another key) is a miss: the identity is read again from the sealed state
// and the damaged entry is replaced, never returned.
func TestIdentityCacheEntryVerifies(t *testing.T) {
	cases := []struct {
		name string
		edit func(e *cacheEntry)
	}{
		{"edited digit", func(e *cacheEntry) { e.Identity = flipDigit(e.Identity) }},
		{"short", func(e *cacheEntry) { e.Identity = e.Identity[:63] }},
		{"long", func(e *cacheEntry) { e.Identity += "0" }},
		{"not hex", func(e *cacheEntry) { e.Identity = "zz" + e.Identity[2:] }},
		{"upper case", func(e *cacheEntry) { e.Identity = strings.ToUpper(e.Identity) }},
		{"other key", func(e *cacheEntry) {
			other := bytes.Repeat([]byte{9}, 32)
			e.Key = keyFingerprint(other)
			e.Identity = flipDigit(e.Identity)
			e.MAC = entryMAC(other, *e)
		}},
		{"edited key fingerprint", func(e *cacheEntry) { e.Key = flipDigit(e.Key) }},
		{"edited mac", func(e *cacheEntry) { e.MAC = flipDigit(e.MAC) }},
		{"no mac", func(e *cacheEntry) { e.MAC = "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, ref := newTestCluster(t)
			ctx := context.Background()
			obs, err := d.Observe(ctx, ref)
			if err != nil || obs.VMs[0].VTPMIdentity == "" {
				t.Fatalf("observe: %v %v", obs, err)
			}
			want := obs.VMs[0].VTPMIdentity
			c, _ := d.loadCluster("c")
			editCache(t, c, tc.edit)
			fresh, _ := New(drivers.Config{StateDir: d.stateDir})
			if v, err := fresh.ObserveVM(ctx, ref, "v"); err != nil || v.VTPMIdentity != want {
				t.Errorf("observe-vm: identity %q (%v), want %s read again from the vTPM", v.VTPMIdentity, err, want)
			}
			fresh2, _ := New(drivers.Config{StateDir: d.stateDir})
			if obs, err := fresh2.Observe(ctx, ref); err != nil || obs.VMs[0].VTPMIdentity != want {
				t.Errorf("observe: %v (%v), want %s read again from the vTPM", obs, err, want)
			}
			// The recomputed entry replaced the damaged one, in its file and in the index.
			var idx []cacheEntry
			data, _ := os.ReadFile(filepath.Join(c.dir, "idcache", indexName))
			if err := json.Unmarshal(data, &idx); err != nil || len(idx) != 1 || !idx[0].verifies(mustKey(t, c), idx[0].Content, BackendReference) || idx[0].Identity != want {
				t.Errorf("index after the miss: %+v (%v), want the recomputed entry", idx, err)
			}
			fresh3, _ := New(drivers.Config{StateDir: d.stateDir})
			if e := readEntry(t, c); e.Identity != want {
				t.Errorf("persisted entry still %q after the miss", e.Identity)
			} else if id, ok := fresh3.cacheGet(c, e.Content, mustKey(t, c)); !ok || id != want {
				t.Errorf("repaired entry does not verify: %q %v", id, ok)
			}
		})
	}
}

func flipDigit(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= '0' && ch <= '8' {
			b[i]++
			return string(b)
		}
	}
	b[0] = '0'
	return string(b)
}

// editCache applies edit to the VM's entry in its per-entry file and in the index.
func editCache(t *testing.T, c *cluster, edit func(e *cacheEntry)) {
	t.Helper()
	ents := cacheEntries(c)
	if len(ents) != 1 {
		t.Fatalf("cache entries %v, want 1", ents)
	}
	e := readEntry(t, c)
	edit(&e)
	data, _ := json.Marshal(e)
	if err := os.WriteFile(ents[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal([]cacheEntry{e})
	if err := os.WriteFile(filepath.Join(c.dir, "idcache", indexName), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readEntry(t *testing.T, c *cluster) cacheEntry {
	t.Helper()
	ents := cacheEntries(c)
	if len(ents) != 1 {
		t.Fatalf("cache entries %v, want 1", ents)
	}
	var e cacheEntry
	data, _ := os.ReadFile(ents[0])
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func mustKey(t *testing.T, c *cluster) []byte {
	t.Helper()
	vm, err := c.readVM("v")
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.rawVaultKey(vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
