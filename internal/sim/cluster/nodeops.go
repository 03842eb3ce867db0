package cluster

import (
	"context"
	"fmt"
	"maps"
)

// Owner-node operations that the simulated node face (internal/sim/node) runs besides
// MoveVM, SetAgent, RestrictStateFileAccess and SetLiveMigration: Secure Boot, which local
// tools may switch back on for a Generation 2 VM (virtual-machine-operations.md) and which
// an administrator may have switched off (drift).

// EnableSecureBoot switches a VM's Secure Boot back on, its template unchanged. Hyper-V
// changes firmware only while the VM is off, so a running VM is refused with
// ErrInvalidState; the Arc resource bridge VM with ErrInfrastructure.
func (h *Host) EnableSecureBoot(_ context.Context, vmID string) error {
	return h.locked(func() error {
		rec, _, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		if !rec.SecureBootOff {
			return nil
		}
		if rec.Power != PowerOff {
			return fmt.Errorf("vm %s: enable Secure Boot: the VM is %s and firmware changes need it Off (error 32775): stop it first: %w", rec.Name, rec.Power, ErrInvalidState)
		}
		rec.SecureBootOff = false
		return h.writeRecord(rec)
	})
}

// DisableSecureBoot is the incident of an administrator switching Secure Boot off on the
// node (Set-VMFirmware -EnableSecureBoot Off): drift that ARM does not show.
func (h *Host) DisableSecureBoot(_ context.Context, vmID string) error {
	return h.locked(func() error {
		rec, _, err := h.mutable(vmID, false)
		if err != nil {
			return err
		}
		rec.SecureBootOff = true
		return h.writeRecord(rec)
	})
}

// Node reports one node of a cluster (status, agents, live migration) without reading any
// VM: what a node face checks before it answers a request.
func (h *Host) Node(_ context.Context, cluster, node string) (NodeState, error) {
	var out NodeState
	err := h.locked(func() error {
		c, err := h.readCluster(cluster)
		if err != nil {
			return err
		}
		n, err := nodeOf(c, node)
		if err != nil {
			return err
		}
		out = NodeState{Name: n.Name, Status: n.Status, Agents: maps.Clone(n.Agents), LiveMigration: n.LM, Encrypted: n.Encrypted}
		return nil
	})
	return out, err
}
