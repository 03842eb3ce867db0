package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Placement index.
//
// Placing a VM asks two questions that would otherwise read every VM record
// of the system, so that placing the 10,000th VM took a thousand times as
// long as the tenth: does the machine have a VM already (PlaceVM is
// idempotent per machine), and how many VMs does each node run (the least
// loaded node gets the VM). Both answers are kept beside the records, so a
// placement reads and writes a fixed number of files whatever the size of
// the system:
//
//	_machines/<sha256 of the case-folded machine ID>.json  {machine_id, vm_id}
//	<cluster>/cluster.json nodes[].vms                      VM records on each node
//
// Neither is a commit point; the record stays the only one. A machine entry
// is written before the record it names and removed after it, and is
// believed only when that record exists and names the machine back, so an
// entry a kill left behind is never taken for a VM. The node counts are
// updated after the record a write commits and are a load hint only: a kill
// between the two leaves a count off by that one VM, which costs nothing but
// balance, and repair recounts them from the records on the next Open.
const machinesDir = "_machines"

// machineEntry is one file of _machines.
type machineEntry struct {
	MachineID string `json:"machine_id"`
	VMID      string `json:"vm_id"`
}

// machineKey names the entry of machineID: ARM resource IDs ignore case, so
// two spellings of one machine share one entry.
func machineKey(machineID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.ToUpper(machineID))))
	return hex.EncodeToString(sum[:])
}

func (h *Host) machinePath(machineID string) string {
	return filepath.Join(h.root, machinesDir, machineKey(machineID)+".json")
}

// ownsMachine: rec is the ARM-managed VM of machineID.
func ownsMachine(rec *vmRecord, machineID string) bool {
	return rec.Managed && !rec.Infrastructure && machineID != "" && strings.EqualFold(rec.MachineID, machineID)
}

// placed is the placement of the ARM-managed VM of machineID, if it has one:
// its machine entry, checked against the record it names.
func (h *Host) placed(machineID string) (arm.Placement, bool, error) {
	if machineID == "" {
		return arm.Placement{}, false, nil
	}
	var e machineEntry
	ok, err := readJSON(h.machinePath(machineID), &e)
	if err != nil || !ok || e.VMID == "" || strings.ContainsAny(e.VMID, `/\.`) {
		return arm.Placement{}, false, err
	}
	rec, err := h.readRecord(e.VMID)
	if errors.Is(err, ErrNotFound) {
		return arm.Placement{}, false, nil
	}
	if err != nil {
		return arm.Placement{}, false, err
	}
	if !ownsMachine(rec, machineID) {
		return arm.Placement{}, false, nil
	}
	return arm.Placement{Node: rec.Node, VMID: rec.VMID}, true, nil
}

// writeMachine records that the VM of machineID is vmID; PlaceVM writes it
// before the record.
func (h *Host) writeMachine(machineID, vmID string) error {
	if machineID == "" {
		return nil
	}
	return simfs.WriteJSON(h.machinePath(machineID), machineEntry{MachineID: machineID, VMID: vmID})
}

// removeMachine removes rec's machine entry once its record is gone, unless
// the entry names another VM.
func (h *Host) removeMachine(rec *vmRecord) error {
	if rec.MachineID == "" {
		return nil
	}
	var e machineEntry
	ok, err := readJSON(h.machinePath(rec.MachineID), &e)
	if err != nil || !ok || e.VMID != rec.VMID {
		return err
	}
	return removeFile(h.machinePath(rec.MachineID))
}

// addVMs changes the VM count of node by d.
func (c *clusterFile) addVMs(node string, d int) {
	if n := c.node(node); n != nil {
		n.VMs = max(0, n.VMs+d)
	}
}

// shiftLoad records in the node counts that a VM left node from of cluster
// fc for node to of cluster tc, after the record that moved it is written. A
// nil fc is a VM that is new, a nil tc one that is gone; fc and tc may be the
// same cluster. Each changed cluster file is written once.
func (h *Host) shiftLoad(fc *clusterFile, from string, tc *clusterFile, to string) error {
	if fc != nil && tc != nil && fc.Name == tc.Name && strings.EqualFold(from, to) {
		return nil
	}
	if fc != nil {
		fc.addVMs(from, -1)
	}
	if tc != nil {
		if fc != nil && fc.Name == tc.Name {
			tc = fc
		}
		tc.addVMs(to, 1)
	}
	if fc != nil {
		if err := h.writeCluster(fc); err != nil {
			return err
		}
	}
	if tc != nil && tc != fc {
		return h.writeCluster(tc)
	}
	return nil
}

// recount sets c's node counts from the records and reports whether any
// changed.
func recount(c *clusterFile, byID map[string]*vmRecord) bool {
	load := map[string]int{}
	for _, r := range byID {
		if r.Cluster == c.Name {
			load[strings.ToLower(r.Node)]++
		}
	}
	changed := false
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if want := load[strings.ToLower(n.Name)]; n.VMs != want {
			n.VMs, changed = want, true
		}
	}
	return changed
}

// repairMachines makes _machines the entries of the records: an entry no
// record owns (a place a kill interrupted, a delete that did not finish) is
// removed, a missing or wrong one is written.
func (h *Host) repairMachines(byID map[string]*vmRecord) error {
	dir := filepath.Join(h.root, machinesDir)
	if err := removeTemps(dir); err != nil {
		return err
	}
	want := map[string]machineEntry{}
	for _, r := range byID {
		if ownsMachine(r, r.MachineID) {
			want[machineKey(r.MachineID)+".json"] = machineEntry{MachineID: r.MachineID, VMID: r.VMID}
		}
	}
	ents, err := readDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		w, ok := want[e.Name()]
		var got machineEntry
		if ok {
			if found, err := readJSON(filepath.Join(dir, e.Name()), &got); err == nil && found && got == w {
				delete(want, e.Name())
				continue
			}
		}
		if err := removeFile(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	for _, w := range want {
		if err := h.writeMachine(w.MachineID, w.VMID); err != nil {
			return err
		}
	}
	return nil
}
