package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// Clusters lists the clusters of the system, sorted by name.
func (h *Host) Clusters() ([]string, error) {
	var out []string
	err := h.locked(func() (err error) { out, err = h.clusterNames(); return err })
	return out, err
}

// sealed is what a read under the lock keeps for computing an identity after
// it: the exact bytes hashed are the bytes unsealed.
type sealed struct {
	out  *VMState
	data []byte
	key  []byte
}

// Observe reports a cluster as its nodes show it. With opts.Identities it
// also reads each vTPM's identity, outside the lock, from the guest state
// bytes read under it.
func (h *Host) Observe(ctx context.Context, cluster string, opts ObserveOptions) (ClusterState, error) {
	var st ClusterState
	var jobs []sealed
	err := h.locked(func() error {
		c, err := h.readCluster(cluster)
		if err != nil {
			return err
		}
		st = ClusterState{Name: c.Name, CustomLocation: c.CustomLocation}
		for _, n := range c.Nodes {
			st.Nodes = append(st.Nodes, NodeState{Name: n.Name, Status: n.Status, Agents: maps.Clone(n.Agents), LiveMigration: n.LM, Encrypted: n.Encrypted})
		}
		recs, err := h.observedRecords(c.Name, opts)
		if err != nil {
			return err
		}
		slices.SortFunc(recs, func(a, b *vmRecord) int { return strings.Compare(a.Name+a.VMID, b.Name+b.VMID) })
		st.VMs = make([]VMState, len(recs))
		for i, rec := range recs {
			j, err := h.vmState(rec, &st.VMs[i])
			if err != nil {
				return err
			}
			if opts.Identities && j != nil {
				jobs = append(jobs, *j)
			}
		}
		return nil
	})
	if err != nil {
		return ClusterState{}, err
	}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return ClusterState{}, err
		}
		if j.out.Identity, err = h.identity(j.out.VMID, j.data, j.key); err != nil {
			return ClusterState{}, fmt.Errorf("vm %s: read vTPM identity: %w", j.out.Name, err)
		}
	}
	return st, nil
}

// VM reports one VM, with its vTPM identity.
func (h *Host) VM(_ context.Context, vmID string) (VMState, error) {
	var out VMState
	var job *sealed
	err := h.locked(func() error {
		rec, err := h.readRecord(vmID)
		if err != nil {
			return err
		}
		job, err = h.vmState(rec, &out)
		return err
	})
	if err != nil || job == nil {
		return out, err
	}
	out.Identity, err = h.identity(vmID, job.data, job.key)
	return out, err
}

// vmState fills out from rec and the vault; it returns the sealed state to
// read the identity from when the VM's key opens one.
func (h *Host) vmState(rec *vmRecord, out *VMState) (*sealed, error) {
	*out = VMState{Name: rec.Name, VMID: rec.VMID, Cluster: rec.Cluster, Node: rec.Node, Power: rec.Power,
		GuestStateIsolationType: rec.Isolation, Managed: rec.Managed, Infrastructure: rec.Infrastructure,
		Processors: rec.Processors, MemoryMB: rec.MemoryMB, Owner: rec.Owner, ACL: slices.Clone(rec.ACL),
		ACLRestricted: aclRestricted(rec), Resets: rec.Resets, SecureBoot: !rec.SecureBootOff}
	if rec.StateGen == 0 {
		return nil, nil
	}
	out.GuestStateDataRoot, out.GuestStateFile = guestStateDataRoot(rec.VMID), stateFileName(rec.VMID, rec.StateGen)
	key, ok, err := h.readKey(rec.Cluster, rec.VMID)
	if err != nil {
		return nil, err
	}
	if ok {
		out.KeyPresent, out.KeyFingerprint = true, fingerprint(key)
		out.KeyID = KeyVaultName + "/" + KeyGroup + "/" + rec.VMID
	}
	data, err := os.ReadFile(h.statePath(rec.Cluster, rec.VMID, rec.StateGen))
	if errors.Is(err, fs.ErrNotExist) {
		out.StateMissing = true
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !ok || fingerprint(key) != rec.KeyFingerprint {
		return nil, nil
	}
	return &sealed{out: out, data: data, key: key}, nil
}

// aclRestricted: owner Administrators or SYSTEM, and no one on the ACL but
// Administrators, SYSTEM and the VM's own virtual account (DESIGN §1.1).
func aclRestricted(rec *vmRecord) bool {
	if rec.Owner != PrincipalAdministrators && rec.Owner != PrincipalSystem {
		return false
	}
	for _, p := range rec.ACL {
		if p != PrincipalAdministrators && p != PrincipalSystem && p != VMPrincipal(rec.VMID) {
			return false
		}
	}
	return true
}

// Identity cache.
//
// Manufacturing a reference TPM and deriving its EK costs milliseconds, so
// identities are cached in memory and under _idcache (so a fresh process
// benefits), keyed by the sha256 of the sealed guest state bytes and checked
// on every read against the fingerprint of the key that opens them. The
// identity is a function of those bytes under that key (the EK derives from
// the seed sealed in them), and every change of the vTPM (a reset, a new
// key) rewrites them with a fresh seed and nonce, so a stale entry would need
// a sha256 collision. A torn or foreign entry fails the check and is a miss.
type cacheEntry struct {
	Content  string `json:"content_sha256"`
	Key      string `json:"key_sha256"`
	Identity string `json:"identity"`
}

// identity is the hex sha256 of the ECC EK public area of the vTPM sealed in
// data, as the guest reads it from its TPM.
func (h *Host) identity(vmID string, data, key []byte) (string, error) {
	sum := sha256.Sum256(data)
	content, keyFP := hex.EncodeToString(sum[:]), fingerprint(key)
	if id, ok := h.cacheGet(content, keyFP); ok {
		return id, nil
	}
	st, err := unseal(data, vmID, key)
	if err != nil {
		return "", err
	}
	var id string
	err = h.tpm.Do(st.Seed, func(tr transport.TPM) error {
		id, err = vtpm.EKFingerprint(tr, vtpm.ECC)
		return err
	})
	if err != nil {
		return "", err
	}
	h.cachePut(cacheEntry{Content: content, Key: keyFP, Identity: id})
	return id, nil
}

func (h *Host) cacheGet(content, keyFP string) (string, bool) {
	h.mu.Lock()
	e, ok := h.cache[content]
	h.mu.Unlock()
	if !ok {
		b, err := os.ReadFile(filepath.Join(h.root, cacheDir, content+".json"))
		if err != nil || json.Unmarshal(b, &e) != nil {
			return "", false
		}
	}
	if e.Content != content || e.Key != keyFP || e.Identity == "" {
		return "", false
	}
	h.mu.Lock()
	h.cache[content] = e
	h.mu.Unlock()
	return e.Identity, true
}

// cachePut stores an entry; a failed write only costs a later miss.
func (h *Host) cachePut(e cacheEntry) {
	h.mu.Lock()
	h.cache[e.Content] = e
	h.mu.Unlock()
	_ = simfs.WriteJSON(filepath.Join(h.root, cacheDir, e.Content+".json"), e)
}

// observedRecords are the VM records Observe reports: every VM of the
// cluster, or the one opts narrows it to (none when NoVMs).
func (h *Host) observedRecords(cluster string, opts ObserveOptions) ([]*vmRecord, error) {
	switch {
	case opts.NoVMs:
		return nil, nil
	case opts.VMID == "":
		return h.records(cluster)
	}
	rec, err := h.readRecord(opts.VMID)
	if errors.Is(err, ErrNotFound) || (err == nil && rec.Cluster != cluster) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []*vmRecord{rec}, nil
}
