package azurelocal

import (
	"strings"
	"sync"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

// perfState is what one connection remembers between observations to spare
// ARM requests; a fresh driver has none of it and relies on the tags.
type perfState struct {
	mu           sync.Mutex
	graphRefused error                     // non-nil: Resource Graph refused; GET each instance
	identities   map[string]identityRecord // by lower-case VM ID: the last identity read
	images       map[string]string         // gallery image IDs create-vm found, by imageCacheKey
}

// Reading a vTPM identity is a Run Command in the guest (several ARM
// requests and a guest process per VM), so Observe reads it only where it
// can have changed. A vTPM gets a new identity only when its VM boots
// without its guest state protection key: after a move (failover, restore)
// onto a system without the key, or after the key is lost and the VM starts
// again. What the driver sees of those, per VM, is its stateKey: the owner
// node, the power state, the guest state file as the node reports it, and
// whether the vault holds the VM's key. An identity is read again when:
//
//   - this connection read it before and the stateKey changed since (a move,
//     a stop or start, a new state file, the key gone or back), or
//   - this connection never read it (a fresh driver: a CLI's plan or apply)
//     and the tags record no identity, or a node other than the VM's owner
//     now, or the vault does not hold the VM's key.
//
// Otherwise the identity observed is the one read last (or recorded in the
// tags, which apply writes after verifying it). What that misses: a reset
// the stateKey does not show. Between two observations of one connection,
// a VM that failed over without its key and came back to the same node, or
// whose key was deleted and which restarted on the same node, shows the same
// node, power, key presence and (on a real cluster, whose guest state file
// keeps its name) state file; the sim names a new vTPM's file anew, so it
// shows there. For a fresh driver, the same between the apply that recorded
// the tags and this observation. Apply's verification after a step reads the
// identity itself (ObserveVM), so a step never relies on this.

// stateKey is what the driver sees of a VM that a vTPM reset goes with.
type stateKey struct {
	Node      string
	Power     drivers.PowerState
	StateFile string
	Key       keyPresence
}

type keyPresence uint8

const (
	keyUnknown keyPresence = iota // no node could read the vault
	keyAbsent
	keyPresent
)

// identityRecord is an identity read from the guest and the stateKey of the
// VM when it was read.
type identityRecord struct {
	key      stateKey
	identity string
}

// stateKeys are the node-side parts of every reported VM's stateKey (Power
// comes from the observed VM), by lower-case VM ID.
func stateKeys(reports map[string]*azlocal.NodeReport) map[string]stateKey {
	vault, anyVault := map[string]bool{}, false
	for _, r := range reports {
		if !r.KeyVault.Available {
			continue
		}
		anyVault = true
		for _, k := range r.KeyVault.Keys {
			vault[strings.ToLower(k.Name)] = true
		}
	}
	out := map[string]stateKey{}
	for node, r := range reports {
		for i := range r.VMs {
			v := &r.VMs[i]
			k := stateKey{Node: node, Key: keyUnknown}
			if anyVault {
				k.Key = keyAbsent
				if vault[strings.ToLower(v.VMID)] {
					k.Key = keyPresent
				}
			}
			if v.GuestStateDataRoot != nil {
				k.StateFile = *v.GuestStateDataRoot
			}
			if v.GuestStateFile != nil {
				k.StateFile += "|" + *v.GuestStateFile
			}
			out[strings.ToLower(v.VMID)] = k
		}
	}
	return out
}

// knownIdentity is the identity of v that need not be read again, and
// whether there is one (see above).
func knownIdentity(v *drivers.VM, key stateKey, last identityRecord, readBefore, trustTags bool) (string, bool) {
	if readBefore {
		return last.identity, last.key == key
	}
	if !trustTags {
		return "", false // a fresh driver reads every guest (Endpoint.TrustRecordedIdentities)
	}
	a := v.Annotations
	if a == nil || a.VTPMIdentity == "" || a.Node == "" || !strings.EqualFold(a.Node, key.Node) || key.Key != keyPresent {
		return "", false
	}
	return a.VTPMIdentity, true
}

func (p *perfState) lookup(vmID string) (identityRecord, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, ok := p.identities[strings.ToLower(vmID)]
	return rec, ok
}

// setIdentities replaces what is remembered with one observation's reads.
func (p *perfState) setIdentities(m map[string]identityRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.identities = m
}

// remember records one identity just read (ObserveVM), keeping the rest.
func (p *perfState) remember(vmID string, rec identityRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.identities == nil {
		p.identities = map[string]identityRecord{}
	}
	p.identities[strings.ToLower(vmID)] = rec
}
