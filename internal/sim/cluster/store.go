package cluster

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// On disk, under <stateDir>/cluster:
//
//	lock                                   the one flock every call takes
//	_vms/<vmid>.json                       VM records: the commit point of every write
//	_idcache/<sha256 of sealed state>.json vTPM identities already read
//	_machines/<sha256 of machine ID>.json  which VM an Arc machine has (index.go)
//	<cluster>/cluster.json                 name, custom location, nodes, their agents and VM counts
//	<cluster>/keyvault/AzureStackTvmKeyVault/AzureStackHostAttestation/<vmid>.key
//	<cluster>/storage/<vmid>/<vmid>-<gen>.vmgs  the sealed guest state, generation gen
//
// A VM's files are only what its record names: a key in the vault of the
// record's cluster, the guest state file of the record's generation. Anything
// else under keyvault/ or storage/ is an orphan of an interrupted write and
// repair deletes it.
const (
	format      = 1
	vmsDir      = "_vms"
	cacheDir    = "_idcache"
	clusterJSON = "cluster.json"
)

// vmRecord is one Hyper-V VM of the simulated system.
type vmRecord struct {
	Format         int                 `json:"format"`
	Name           string              `json:"name"`
	VMID           string              `json:"vm_id"`
	Cluster        string              `json:"cluster"`
	Node           string              `json:"node"`
	Power          Power               `json:"power"`
	Isolation      string              `json:"guest_state_isolation_type"`
	Managed        bool                `json:"managed"`
	Infrastructure bool                `json:"infrastructure,omitempty"`
	Processors     int                 `json:"processors"`
	MemoryMB       int64               `json:"memory_mb"`
	MachineID      string              `json:"machine_id,omitempty"`
	ComputerName   string              `json:"computer_name,omitempty"`
	Image          arm.ImageIdentifier `json:"image"`
	// StateGen is the generation of the guest state file (0: the VM has no
	// vTPM). A new vTPM state is written under the next generation's name
	// before the record names it.
	StateGen int `json:"state_gen"`
	// KeyFingerprint is the fingerprint of the key that sealed the state.
	KeyFingerprint string   `json:"key_sha256,omitempty"`
	Owner          string   `json:"owner"`
	ACL            []string `json:"acl"`
	Resets         int      `json:"resets"`
	// SecureBootOff: someone switched Secure Boot off on the node (drift); nodeops.go.
	SecureBootOff bool `json:"secure_boot_off,omitempty"`
	// Boot is how the guest boots and what its running boot measured (boot.go).
	Boot bootRecord `json:"boot"`
}

// clusterFile is <cluster>/cluster.json.
type clusterFile struct {
	Format         int          `json:"format"`
	Name           string       `json:"name"`
	CustomLocation string       `json:"custom_location"`
	Nodes          []nodeRecord `json:"nodes"`
	BridgeVMID     string       `json:"resource_bridge_vm_id"`
}

type nodeRecord struct {
	Name      string               `json:"name"`
	Status    NodeStatus           `json:"status"`
	Agents    map[Agent]AgentState `json:"agents"`
	LM        LMTransport          `json:"live_migration"`
	Encrypted bool                 `json:"live_migration_encrypted"`
	// VMs is how many VM records name this node: a placement hint (index.go).
	VMs int `json:"vms"`
}

func (c *clusterFile) node(name string) *nodeRecord {
	for i := range c.Nodes {
		if strings.EqualFold(c.Nodes[i].Name, name) {
			return &c.Nodes[i]
		}
	}
	return nil
}

// canHost reports why a node cannot run a trusted-launch VM, or nil.
func (n *nodeRecord) canHost() error {
	if n.Status != NodeUp {
		return fmt.Errorf("node %s is %s: %w", n.Name, n.Status, ErrBlocked)
	}
	for _, a := range []Agent{AgentIGVm, AgentNode} {
		if n.Agents[a] != AgentRunning {
			return fmt.Errorf("node %s: %s is %s: start it on the node or use another node: %w", n.Name, a, n.Agents[a], ErrBlocked)
		}
	}
	return nil
}

func (h *Host) clusterDir(name string) string { return filepath.Join(h.root, name) }
func (h *Host) recordPath(vmID string) string { return filepath.Join(h.root, vmsDir, vmID+".json") }
func (h *Host) keyDir(cluster string) string {
	return filepath.Join(h.clusterDir(cluster), "keyvault", KeyVaultName, KeyGroup)
}
func (h *Host) keyPath(cluster, vmID string) string {
	return filepath.Join(h.keyDir(cluster), vmID+".key")
}
func (h *Host) storageDir(cluster, vmID string) string {
	return filepath.Join(h.clusterDir(cluster), "storage", vmID)
}
func (h *Host) statePath(cluster, vmID string, gen int) string {
	return filepath.Join(h.storageDir(cluster, vmID), stateFileName(vmID, gen))
}

func stateFileName(vmID string, gen int) string { return fmt.Sprintf("%s-%d.vmgs", vmID, gen) }

// guestStateDataRoot is the Windows path Get-VM reports for a VM's state files.
func guestStateDataRoot(vmID string) string {
	return `C:\ClusterStorage\UserStorage_1\Virtual Machines\` + vmID
}

func (h *Host) readRecord(vmID string) (*vmRecord, error) {
	var rec vmRecord
	ok, err := readJSON(h.recordPath(vmID), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("vm %s: %w", vmID, ErrNotFound)
	}
	return &rec, nil
}

func (h *Host) writeRecord(rec *vmRecord) error {
	rec.Format = format
	return simfs.WriteJSON(h.recordPath(rec.VMID), rec)
}

// records lists every VM record, of cluster only when cluster is not "".
func (h *Host) records(cluster string) ([]*vmRecord, error) {
	ents, err := os.ReadDir(filepath.Join(h.root, vmsDir))
	if err != nil {
		return nil, err
	}
	var out []*vmRecord
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(id, ".") {
			continue
		}
		rec, err := h.readRecord(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if cluster == "" || rec.Cluster == cluster {
			out = append(out, rec)
		}
	}
	return out, nil
}

func (h *Host) readCluster(name string) (*clusterFile, error) {
	var c clusterFile
	ok, err := readJSON(filepath.Join(h.clusterDir(name), clusterJSON), &c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("cluster %s: %w", name, ErrNotFound)
	}
	return &c, nil
}

func (h *Host) writeCluster(c *clusterFile) error {
	c.Format = format
	return simfs.WriteJSON(filepath.Join(h.clusterDir(c.Name), clusterJSON), c)
}

// clusterNames lists the clusters on disk, sorted.
func (h *Host) clusterNames() ([]string, error) {
	ents, err := os.ReadDir(h.root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// readJSON is simfs.ReadJSON with what a damaged file means here.
func readJSON(path string, v any) (ok bool, err error) {
	ok, err = simfs.ReadJSON(path, v)
	if errors.Is(err, simfs.ErrDamaged) {
		err = fmt.Errorf("%w: the simulated cluster's state is damaged; remove the state dir's cluster directory to start over", err)
	}
	return ok, err
}

// newGUID returns a random version 4 UUID, like a Hyper-V VM ID.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}
