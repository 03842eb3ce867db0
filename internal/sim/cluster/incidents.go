package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Incidents: what happens to a cluster outside ARM, for tests and the
// `tlreconcile sim` commands. None of them can touch the Arc resource bridge
// VM by name; a node failure moves it as the cluster moves any clustered VM.

// Target is where MoveVM sends a VM; an empty Cluster is the VM's own.
type Target struct {
	Cluster string
	Node    string
}

// withCluster runs fn on a cluster under the lock and writes it back.
func (h *Host) withCluster(name string, fn func(*clusterFile) error) error {
	return h.locked(func() error {
		c, err := h.readCluster(name)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		return h.writeCluster(c)
	})
}

func nodeOf(c *clusterFile, name string) (*nodeRecord, error) {
	n := c.node(name)
	if n == nil {
		return nil, fmt.Errorf("cluster %s: node %s: %w", c.Name, name, ErrNotFound)
	}
	return n, nil
}

// FailNode takes a node down. Its VMs fail over to the other nodes that can
// host them (the least loaded first); each running VM boots there, keeping its
// vTPM because the cluster's key vault still holds its key. A VM with nowhere
// to go is left off on the failed node. The node state is written first; a
// kill before the VMs move leaves VMs on a down node, which the next Open
// fails over.
func (h *Host) FailNode(_ context.Context, cluster, node string) error {
	return h.locked(func() error {
		c, err := h.readCluster(cluster)
		if err != nil {
			return err
		}
		n, err := nodeOf(c, node)
		if err != nil {
			return err
		}
		n.Status = NodeDown
		if err := h.writeCluster(c); err != nil {
			return err
		}
		if err := h.step("node"); err != nil {
			return err
		}
		return h.failover(c)
	})
}

// failover moves every VM off the down nodes of c; the node counts are
// written once, after the last move (a kill before it leaves them for
// repair to recount). With every node up there is nothing to move and no
// record is read, which keeps repair at one pass over the records.
func (h *Host) failover(c *clusterFile) error {
	if !slices.ContainsFunc(c.Nodes, func(n nodeRecord) bool { return n.Status != NodeUp }) {
		return nil
	}
	recs, err := h.records(c.Name)
	if err != nil {
		return err
	}
	moved := false
	for _, rec := range recs {
		if n := c.node(rec.Node); n == nil || n.Status == NodeUp {
			continue
		}
		to, err := h.pickNode(c, rec.Node)
		if err != nil {
			rec.Power = PowerOff
			if err := h.writeRecord(rec); err != nil {
				return err
			}
			continue
		}
		from := rec.Node
		rec.Node = to
		if rec.Power != PowerRunning {
			err = h.writeRecord(rec)
		} else {
			err = h.boot(c, rec)
		}
		if err != nil {
			return fmt.Errorf("vm %s: fail over to %s: %w", rec.Name, to, err)
		}
		c.addVMs(from, -1)
		c.addVMs(to, 1)
		moved = true
	}
	if !moved {
		return nil
	}
	return h.writeCluster(c)
}

// RecoverNode brings a failed node back Up (its VMs stay where they went).
func (h *Host) RecoverNode(_ context.Context, cluster, node string) error {
	return h.withCluster(cluster, func(c *clusterFile) error {
		n, err := nodeOf(c, node)
		if err == nil {
			n.Status = NodeUp
		}
		return err
	})
}

// SetAgent stops or starts a host agent on a node. Stopping one does not stop
// the VMs already running; it blocks creating, starting and moving
// trusted-launch VMs there (IGVmAgent, wssdagent), stopping and deleting its
// VMs (wssdagent), or every create and delete of the cluster (the cloud
// agent).
func (h *Host) SetAgent(_ context.Context, cluster, node string, agent Agent, state AgentState) error {
	if state != AgentRunning && state != AgentStopped {
		return fmt.Errorf("agent %s: state %q: use Running or Stopped", agent, state)
	}
	return h.withCluster(cluster, func(c *clusterFile) error {
		n, err := nodeOf(c, node)
		if err != nil {
			return err
		}
		cur, ok := n.Agents[agent]
		if !ok || cur == AgentNotInstalled {
			return fmt.Errorf("node %s: agent %s is not installed there: %w", node, agent, ErrNotFound)
		}
		n.Agents[agent] = state
		return nil
	})
}

// SetLiveMigration sets a node's live-migration transport and whether its
// traffic is encrypted.
func (h *Host) SetLiveMigration(_ context.Context, cluster, node string, t LMTransport, encrypted bool) error {
	if t != LMTCP && t != LMCompression && t != LMSMB {
		return fmt.Errorf("live migration transport %q: use TCP, Compression or SMB", t)
	}
	return h.withCluster(cluster, func(c *clusterFile) error {
		n, err := nodeOf(c, node)
		if err == nil {
			n.LM, n.Encrypted = t, encrypted
		}
		return err
	})
}

// DeleteKey deletes a VM's guest state protection key from the vault. A
// running VM keeps running; its next boot creates a new key and a new vTPM.
func (h *Host) DeleteKey(_ context.Context, vmID string) error {
	return h.locked(func() error {
		rec, _, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		return removeFile(h.keyPath(rec.Cluster, vmID))
	})
}

// CreateLocalVM creates a VM with local tools (New-VM on a node): an
// unmanaged VM that ARM does not know, without trusted launch (only Arc VMs
// have it) and so without a key or vTPM. It returns the VM ID.
func (h *Host) CreateLocalVM(_ context.Context, cluster, node, name string) (string, error) {
	var id string
	err := h.locked(func() error {
		c, err := h.readCluster(cluster)
		if err != nil {
			return err
		}
		n, err := nodeOf(c, node)
		if err != nil {
			return err
		}
		if n.Status != NodeUp {
			return fmt.Errorf("node %s is %s: %w", node, n.Status, ErrBlocked)
		}
		if id, err = newGUID(); err != nil {
			return err
		}
		if err := h.writeRecord(&vmRecord{Name: name, VMID: id, Cluster: c.Name, Node: n.Name, Power: PowerRunning,
			Isolation: isolationNone, Processors: 2, MemoryMB: 2048, Owner: PrincipalAdministrators, ACL: restrictedACL(id)}); err != nil {
			return err
		}
		return h.shiftLoad(nil, "", c, n.Name)
	})
	return id, err
}

// GrantStateFileAccess adds principal to the ACL of a VM's state files, as
// an administrator's icacls would.
func (h *Host) GrantStateFileAccess(_ context.Context, vmID, principal string) error {
	return h.locked(func() error {
		rec, _, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		if !slices.Contains(rec.ACL, principal) {
			rec.ACL = append(rec.ACL, principal)
		}
		return h.writeRecord(rec)
	})
}

// RestrictStateFileAccess sets the owner and ACL of a VM's state files back to
// Administrators, SYSTEM and the VM's own account.
func (h *Host) RestrictStateFileAccess(_ context.Context, vmID string) error {
	return h.locked(func() error {
		rec, _, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		rec.Owner, rec.ACL = PrincipalAdministrators, restrictedACL(vmID)
		return h.writeRecord(rec)
	})
}

// MoveVM moves a VM. Inside its cluster with its key it is a live
// migration: the VM keeps running with its vTPM. Inside its cluster without
// its key it is a failover on which the key was lost: the key is deleted and
// a running VM boots on the target with a new key and a new vTPM. To another
// cluster it is a restore onto another system: the state files are copied
// there and, with the key, the key is imported into that cluster's vault
// (trusted-launch-vm-import-key.md); the VM arrives off and a VM that was
// running boots there, keeping its vTPM only if its key came along.
func (h *Host) MoveVM(_ context.Context, vmID string, to Target, withKey bool) error {
	return h.locked(func() error {
		rec, c, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		from := rec.Node
		if to.Cluster == "" || strings.EqualFold(to.Cluster, rec.Cluster) {
			if err := h.moveInside(rec, c, to.Node, withKey); err != nil {
				return err
			}
			return h.shiftLoad(c, from, c, rec.Node)
		}
		tc, err := h.readCluster(to.Cluster)
		if err != nil {
			return err
		}
		return h.restore(rec, c, tc, to.Node, withKey)
	})
}

func (h *Host) moveInside(rec *vmRecord, c *clusterFile, node string, withKey bool) error {
	n, err := nodeOf(c, node)
	if err != nil {
		return err
	}
	if err := n.canHost(); err != nil {
		return fmt.Errorf("vm %s: move: %w", rec.Name, err)
	}
	rec.Node = n.Name
	if withKey || rec.StateGen == 0 {
		return h.writeRecord(rec)
	}
	if err := removeFile(h.keyPath(rec.Cluster, rec.VMID)); err != nil {
		return err
	}
	if err := h.step("key"); err != nil {
		return err
	}
	if rec.Power != PowerRunning {
		return h.writeRecord(rec)
	}
	return h.boot(c, rec)
}

// restore moves rec from cluster c to cluster tc. Writes: key into the
// target vault, state under the next generation's name in the target's
// storage, the record naming the target (the commit), then the source's
// files and key go and both clusters' node counts follow. Before the commit
// the copies are orphans; after it the source's are.
func (h *Host) restore(rec *vmRecord, c, tc *clusterFile, node string, withKey bool) error {
	n, err := nodeOf(tc, node)
	if err != nil {
		return err
	}
	if err := n.canHost(); err != nil {
		return fmt.Errorf("vm %s: restore: %w", rec.Name, err)
	}
	from, fromNode, running := rec.Cluster, rec.Node, rec.Power == PowerRunning
	if rec.StateGen > 0 {
		if err := h.copyState(rec, from, tc.Name, withKey); err != nil {
			return err
		}
		rec.StateGen++
	}
	rec.Cluster, rec.Node, rec.Power = tc.Name, n.Name, PowerOff
	if err := h.writeRecord(rec); err != nil {
		return err
	}
	if err := h.step("record"); err != nil {
		return err
	}
	if err := os.RemoveAll(h.storageDir(from, rec.VMID)); err != nil {
		return err
	}
	if err := removeFile(h.keyPath(from, rec.VMID)); err != nil {
		return err
	}
	if err := h.shiftLoad(c, fromNode, tc, rec.Node); err != nil {
		return err
	}
	if !running {
		return nil
	}
	return h.boot(tc, rec)
}

// copyState writes rec's key (withKey) and sealed state into cluster to,
// under the next generation's name.
func (h *Host) copyState(rec *vmRecord, from, to string, withKey bool) error {
	if withKey {
		if _, err := h.importKey(from, to, rec.VMID); err != nil {
			return err
		}
		if err := h.step("key"); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(h.statePath(from, rec.VMID, rec.StateGen))
	if err != nil {
		return fmt.Errorf("vm %s: restore: read guest state: %w", rec.Name, err)
	}
	if err := simfs.WriteFileAtomic(h.statePath(to, rec.VMID, rec.StateGen+1), data, 0o600); err != nil {
		return err
	}
	return h.step("state")
}
