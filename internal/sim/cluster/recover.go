package cluster

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// repair makes the files agree with the records after a kill, under the
// lock. The record is the commit point of every write, so the rule is one
// and deterministic: a VM is what its record says; a key or guest state file
// its record does not name (a write that never committed, or the leftovers of
// one that did) is deleted, and so are temp files of interrupted renames;
// the placement index (index.go) is rebuilt where it disagrees. A
// record that names a missing state file is kept as it is and reported
// (VMState.StateMissing): the next boot makes a new vTPM, once. VMs left on
// a failed node by a kill inside FailNode fail over now.
func (h *Host) repair() error {
	recs, err := h.records("")
	if err != nil {
		return err
	}
	byID := make(map[string]*vmRecord, len(recs))
	for _, r := range recs {
		byID[r.VMID] = r
	}
	if err := removeTemps(filepath.Join(h.root, vmsDir)); err != nil {
		return err
	}
	names, err := h.clusterNames()
	if err != nil {
		return err
	}
	if err := h.repairMachines(byID); err != nil {
		return err
	}
	for _, c := range names {
		if err := removeTemps(h.clusterDir(c)); err != nil {
			return err
		}
		if err := h.recoverKeys(c, byID); err != nil {
			return err
		}
		if err := h.recoverStorage(c, byID); err != nil {
			return err
		}
		cf, err := h.readCluster(c)
		if err != nil {
			return err
		}
		if recount(cf, byID) {
			if err := h.writeCluster(cf); err != nil {
				return err
			}
		}
		if err := h.failover(cf); err != nil {
			return err
		}
	}
	return nil
}

func (h *Host) recoverKeys(cluster string, byID map[string]*vmRecord) error {
	ents, err := readDir(h.keyDir(cluster))
	if err != nil {
		return err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".key")
		if r := byID[id]; ok && r != nil && r.Cluster == cluster && r.StateGen > 0 {
			continue
		}
		if err := removeFile(filepath.Join(h.keyDir(cluster), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (h *Host) recoverStorage(cluster string, byID map[string]*vmRecord) error {
	root := filepath.Join(h.clusterDir(cluster), "storage")
	dirs, err := readDir(root)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		r := byID[d.Name()]
		if r == nil || r.Cluster != cluster || r.StateGen == 0 {
			if err := os.RemoveAll(filepath.Join(root, d.Name())); err != nil {
				return err
			}
			continue
		}
		files, err := readDir(filepath.Join(root, d.Name()))
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.Name() == stateFileName(r.VMID, r.StateGen) {
				continue
			}
			if err := removeFile(filepath.Join(root, d.Name(), f.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func removeTemps(dir string) error {
	ents, err := readDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if err := removeFile(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func readDir(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ents, err
}
