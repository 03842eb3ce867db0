package cluster

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// PlaceVM creates the Hyper-V VM of a new virtual machine instance on the
// cluster its custom location selects, on a node whose IGVmAgent and wssdagent
// run, and boots it (ARM reports a new instance Running). A TrustedLaunch VM
// gets GuestStateIsolationType TrustedLaunch, a guest state protection key
// named by its VM ID and a freshly manufactured vTPM sealed with that key.
// The record is written last: a kill before it leaves only orphans. A
// machine that has a VM already gets that VM's placement, no second VM or
// key: ARM repeats the call when it was killed before recording the answer.
func (h *Host) PlaceVM(_ context.Context, req arm.PlaceRequest) (arm.Placement, error) {
	var pl arm.Placement
	err := h.locked(func() error {
		if prev, ok, err := h.placed(req.MachineID); err != nil || ok {
			pl = prev
			return err
		}
		c, err := h.clusterFor(req.CustomLocation)
		if err != nil {
			return err
		}
		if err := cloudAgentRuns(c); err != nil {
			return err
		}
		node, err := h.pickNode(c, "")
		if err != nil {
			return err
		}
		id, err := newGUID()
		if err != nil {
			return err
		}
		if err := h.writeMachine(req.MachineID, id); err != nil {
			return err
		}
		if err := h.step("index"); err != nil {
			return err
		}
		rec := &vmRecord{Name: path.Base(req.MachineID), VMID: id, Cluster: c.Name, Node: node, Power: PowerRunning,
			Isolation: isolationNone, Managed: true, Processors: req.Hardware.Processors, MemoryMB: req.Hardware.MemoryMB,
			MachineID: req.MachineID, ComputerName: req.ComputerName, Image: req.Image,
			Owner: PrincipalAdministrators, ACL: restrictedACL(id), SecureBootOff: !req.Security.SecureBoot}
		if req.Security.Type == isolationTL {
			rec.Isolation = isolationTL
			if err := h.newVTPM(rec); err != nil {
				return fmt.Errorf("vm %s: place: %w", rec.Name, err)
			}
		} else if err := h.writeRecord(rec); err != nil {
			return err
		}
		pl = arm.Placement{Node: node, VMID: id}
		return h.shiftLoad(nil, "", c, node)
	})
	return pl, err
}

// StartVM boots a VM on its node (see boot).
func (h *Host) StartVM(_ context.Context, vmID string) error {
	return h.withVM(vmID, func(rec *vmRecord, c *clusterFile) error {
		if rec.Power == PowerRunning {
			return nil
		}
		return h.boot(c, rec)
	})
}

// StopVM turns a VM off; it needs the node agent on the VM's node
// ("VM start, stop or delete may fail due to the wssdagent node agent
// crashing", known-issues.md).
func (h *Host) StopVM(_ context.Context, vmID string) error {
	return h.withVM(vmID, func(rec *vmRecord, c *clusterFile) error {
		if err := nodeAgentRuns(c, rec); err != nil {
			return fmt.Errorf("vm %s: stop: %w", rec.Name, err)
		}
		rec.Power = PowerOff
		return h.writeRecord(rec)
	})
}

// RestartVM reboots a VM: a boot like StartVM's, so a VM whose key is gone
// comes back with a new vTPM.
func (h *Host) RestartVM(_ context.Context, vmID string) error {
	return h.withVM(vmID, func(rec *vmRecord, c *clusterFile) error {
		return h.boot(c, rec)
	})
}

// DeleteVM removes the VM, its state files and its key. The record goes
// first (the commit); the files, key and machine entry it named are orphans
// from then on, removed here or by the next repair.
func (h *Host) DeleteVM(_ context.Context, vmID string) error {
	return h.withVM(vmID, func(rec *vmRecord, c *clusterFile) error {
		if err := cloudAgentRuns(c); err != nil {
			return fmt.Errorf("vm %s: delete: %w", rec.Name, err)
		}
		if err := nodeAgentRuns(c, rec); err != nil {
			return fmt.Errorf("vm %s: delete: %w", rec.Name, err)
		}
		if err := removeFile(h.recordPath(vmID)); err != nil {
			return err
		}
		if err := h.step("record"); err != nil {
			return err
		}
		if err := os.RemoveAll(h.storageDir(rec.Cluster, vmID)); err != nil {
			return err
		}
		if err := h.step("state"); err != nil {
			return err
		}
		if err := removeFile(h.keyPath(rec.Cluster, vmID)); err != nil {
			return err
		}
		if err := h.removeMachine(rec); err != nil {
			return err
		}
		return h.shiftLoad(c, rec.Node, nil, "")
	})
}

// SetHardware changes processors and memory. Hyper-V cannot add or remove
// virtual processors of a running VM, so a processor change needs the VM
// off; static memory can change while it runs (Windows Server 2016+ guests,
// DESIGN §1.2, which every Azure Local guest image is).
func (h *Host) SetHardware(_ context.Context, vmID string, hw arm.Hardware) error {
	return h.withVM(vmID, func(rec *vmRecord, c *clusterFile) error {
		if hw.Processors != 0 && hw.Processors != rec.Processors && rec.Power == PowerRunning {
			return fmt.Errorf("vm %s: set processors %d: a running VM's processor count cannot change: stop the VM, then update it: %w",
				rec.Name, hw.Processors, ErrInvalidState)
		}
		if hw.Processors != 0 {
			rec.Processors = hw.Processors
		}
		if hw.MemoryMB != 0 {
			rec.MemoryMB = hw.MemoryMB
		}
		return h.writeRecord(rec)
	})
}

func nodeAgentRuns(c *clusterFile, rec *vmRecord) error {
	n := c.node(rec.Node)
	if n == nil {
		return fmt.Errorf("node %s: %w", rec.Node, ErrNotFound)
	}
	if n.Agents[AgentNode] != AgentRunning || n.Status != NodeUp {
		return fmt.Errorf("node %s: %s is %s (node %s): start it on the node: %w", n.Name, AgentNode, n.Agents[AgentNode], n.Status, ErrBlocked)
	}
	return nil
}
