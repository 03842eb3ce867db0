package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Hash is the sha256 (hex) of the canonical JSON of the whole desired state:
// clusters, VMs and catalog, already sorted, so the order of files and
// documents does not change it. The list of files is left out on purpose.
func (d *Desired) Hash() string {
	if d == nil {
		return hashJSON(nil)
	}
	return hashJSON(struct {
		Clusters []Cluster      `json:"clusters"`
		VMs      []VM           `json:"vms"`
		Catalog  []CatalogImage `json:"catalog"`
	}{d.Clusters, d.VMs, d.Catalog})
}

// Hash is the sha256 (hex) of the VM's canonical spec with defaults applied;
// tlreconcile stores it in the VM's annotations to notice spec changes.
func (v VM) Hash() string { return hashJSON(v) }

// hashJSON relies on encoding/json's fixed struct order and sorted map keys.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only free-form driver options could fail, and the loader keeps them JSON-safe.
		b = []byte("unmarshalable:" + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func itoa(i int) string { return strconv.Itoa(i) }
