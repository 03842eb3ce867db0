package hvmodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The vTPM backends a sim cluster can run its vTPMs on (ClusterRef.Options["vtpmBackend"]).
const (
	BackendReference = "reference" // the in-process Microsoft reference TPM (go-tpm-tools simulator)
	BackendSwtpm     = "swtpm"     // one swtpm process per vTPM, state directory encrypted with --key
)

// stateFormat is the version of the on-disk layout; bump it when a file changes shape.
const stateFormat = 1

// On-disk layout of one cluster, under <StateDir>/sim/<cluster>/:
//
//	cluster.json             nodes (state, IgvmAgent, IPsec) and the vTPM backend
//	cluster.lock             flock for cluster.json and faults.json
//	faults.json              injected faults and latency, per op
//	vms/<vm>.json            one VM's configuration; one file per VM so that ops
//	                         on different VMs never serialise on a shared file
//	locks/<vm>.lock          flock for that VM's files
//	nodes/<node>/<vm>.vmgs   the VM's guest state: its vTPM state, sealed with
//	                         AES-GCM under the VM's key; moves with the VM
//	nodes/<node>/<vm>.vtpm/  swtpm backend: the swtpm state directory (--key)
//	vault/<vm-id>.key        the simulated cluster key vault: one key per VM
//	idcache/<sha256>.json    vTPM identities keyed by the guest state's content hash
const (
	clusterFileName = "cluster.json"
	clusterLockName = "cluster.lock"
	faultsFileName  = "faults.json"
)

// clusterFile is cluster.json.
type clusterFile struct {
	Format  int          `json:"format"`
	Name    string       `json:"name"`
	Backend string       `json:"vtpm_backend"`
	Nodes   []nodeRecord `json:"nodes"` // sorted by name
	Created time.Time    `json:"created"`
}

type nodeRecord struct {
	Name           string             `json:"name"`
	State          drivers.NodeState  `json:"state"`
	IgvmAgent      drivers.AgentState `json:"igvm_agent"`
	MigrationIPsec bool               `json:"migration_ipsec"`
}

// vmRecord is vms/<vm>.json. The file-access verdict is not stored: it is read
// from the real mode bits of the VM's guest-state file.
type vmRecord struct {
	Format             int                  `json:"format"`
	Name               string               `json:"name"`
	ID                 string               `json:"id"`
	Node               string               `json:"node"`
	Generation         int                  `json:"generation"`
	Power              drivers.PowerState   `json:"power"`
	Processors         int                  `json:"processors"`
	MemoryMB           int64                `json:"memory_mb"`
	SecurityType       string               `json:"security_type"`
	SecureBoot         bool                 `json:"secure_boot"`
	SecureBootTemplate string               `json:"secure_boot_template"`
	TPMEnabled         bool                 `json:"tpm_enabled"`
	KeyProtector       []byte               `json:"key_protector,omitempty"`
	EncryptState       bool                 `json:"encrypt_state"`
	VBSOptOut          bool                 `json:"vbs_opt_out"`
	VTPMInitialized    bool                 `json:"vtpm_initialized"`
	Image              *drivers.Image       `json:"image,omitempty"`
	Annotations        *drivers.Annotations `json:"annotations,omitempty"`
	Created            time.Time            `json:"created"`
	// BootTamper are boot components every later boot measures (TamperBoot); BootExtra
	// the ones the running (or last) boot measured, fixed when it started.
	BootTamper []string `json:"boot_tamper,omitempty"`
	BootExtra  []string `json:"boot_extra,omitempty"`
	// Attestation is the last attest op's outcome and AttestationAK the AK it bound.
	Attestation   *drivers.Attested `json:"attestation,omitempty"`
	AttestationAK string            `json:"attestation_ak,omitempty"`
}

// cluster is one loaded cluster: its directory and cluster.json.
type cluster struct {
	dir  string
	file clusterFile
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkName rejects names that cannot be a single path component; VM, node and
// cluster names become file names here.
func checkName(kind, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%s name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit: %w", kind, name, drivers.ErrInvalidArgument)
	}
	return nil
}

func (d *Driver) clusterDir(name string) string { return filepath.Join(d.stateDir, "sim", name) }

func (c *cluster) vmPath(vm string) string    { return filepath.Join(c.dir, "vms", vm+".json") }
func (c *cluster) vmLock(vm string) string    { return filepath.Join(c.dir, "locks", vm+".lock") }
func (c *cluster) nodeDir(node string) string { return filepath.Join(c.dir, "nodes", node) }
func (c *cluster) vaultPath(id string) string { return filepath.Join(c.dir, "vault", id+".key") }
func (c *cluster) guestPath(node, vm string) string {
	return filepath.Join(c.nodeDir(node), vm+".vmgs")
}
func (c *cluster) swtpmDir(node, vm string) string {
	return filepath.Join(c.nodeDir(node), vm+".vtpm")
}

// node returns the named node, or nil.
func (c *cluster) node(name string) *nodeRecord {
	for i := range c.file.Nodes {
		if c.file.Nodes[i].Name == name {
			return &c.file.Nodes[i]
		}
	}
	return nil
}

// loadCluster reads an existing cluster; a missing one is ErrNotFound.
func (d *Driver) loadCluster(name string) (*cluster, error) {
	if err := checkName("cluster", name); err != nil {
		return nil, err
	}
	c := &cluster{dir: d.clusterDir(name)}
	err := readJSON(filepath.Join(c.dir, clusterFileName), &c.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cluster/%s: no sim cluster under %s: run `tlreconcile sim init --cluster %s --nodes ...` or observe it from its Cluster document first: %w", name, d.stateDir, name, drivers.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if c.file.Format != stateFormat {
		return nil, fmt.Errorf("cluster/%s: state format %d, this build reads %d: delete %s and create the cluster again", name, c.file.Format, stateFormat, c.dir)
	}
	return c, nil
}

// ensureCluster loads the cluster, creating it from ref when it does not exist:
// a fresh Azure Local cluster with every node Up, IgvmAgent running and
// live-migration IPsec off.
func (d *Driver) ensureCluster(ref drivers.ClusterRef) (*cluster, error) {
	backend, err := backendOption(ref)
	if err != nil {
		return nil, err
	}
	c, err := d.loadCluster(ref.Name)
	if err == nil {
		if backend != "" && backend != c.file.Backend {
			return nil, fmt.Errorf("cluster/%s: the sim cluster runs its vTPMs on %q but the Cluster document asks for vtpmBackend %q: delete %s to recreate it, or change the option", ref.Name, c.file.Backend, backend, c.dir)
		}
		return c, nil
	}
	if !errors.Is(err, drivers.ErrNotFound) {
		return nil, err
	}
	if len(ref.Nodes) == 0 {
		return nil, fmt.Errorf("cluster/%s: no nodes: list the cluster's nodes in spec.nodes: %w", ref.Name, drivers.ErrInvalidArgument)
	}
	if backend == "" {
		backend = BackendReference
	}
	if backend == BackendSwtpm {
		if err := swtpmAvailable(); err != nil {
			return nil, fmt.Errorf("cluster/%s: vtpmBackend swtpm: %w", ref.Name, err)
		}
	}
	nodes := slices.Clone(ref.Nodes)
	slices.Sort(nodes)
	file := clusterFile{Format: stateFormat, Name: ref.Name, Backend: backend, Created: time.Now().UTC()}
	for i, n := range nodes {
		if err := checkName("node", n); err != nil {
			return nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
		}
		if i > 0 && nodes[i-1] == n {
			return nil, fmt.Errorf("cluster/%s: node %q listed twice: list each node once: %w", ref.Name, n, drivers.ErrInvalidArgument)
		}
		file.Nodes = append(file.Nodes, nodeRecord{Name: n, State: drivers.NodeUp, IgvmAgent: drivers.AgentRunning})
	}
	c = &cluster{dir: d.clusterDir(ref.Name), file: file}
	for _, sub := range []string{"vms", "locks", "vault", "idcache"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("cluster/%s: create %s: %w", ref.Name, c.dir, err)
		}
	}
	for _, n := range nodes {
		if err := os.MkdirAll(c.nodeDir(n), 0o700); err != nil {
			return nil, fmt.Errorf("cluster/%s: create %s: %w", ref.Name, c.dir, err)
		}
	}
	l, err := lock(filepath.Join(c.dir, clusterLockName))
	if err != nil {
		return nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
	}
	defer l.unlock()
	// Another process may have created it while we waited for the lock.
	if exists(filepath.Join(c.dir, clusterFileName)) {
		return d.loadCluster(ref.Name)
	}
	if err := writeJSONAtomic(filepath.Join(c.dir, clusterFileName), &c.file); err != nil {
		return nil, fmt.Errorf("cluster/%s: write %s: %w", ref.Name, clusterFileName, err)
	}
	return c, nil
}

// backendOption reads ClusterRef.Options["vtpmBackend"]; "" when unset.
func backendOption(ref drivers.ClusterRef) (string, error) {
	v, ok := ref.Options["vtpmBackend"]
	if !ok || v == nil {
		return "", nil
	}
	s, _ := v.(string)
	switch s {
	case BackendReference, BackendSwtpm:
		return s, nil
	}
	return "", fmt.Errorf("cluster/%s: options.vtpmBackend %v: use %q or %q: %w", ref.Name, v, BackendReference, BackendSwtpm, drivers.ErrInvalidArgument)
}

// updateCluster runs fn on cluster.json under the cluster lock and writes the
// result when fn reports a change.
func (d *Driver) updateCluster(name string, fn func(f *clusterFile) (bool, error)) error {
	c, err := d.loadCluster(name)
	if err != nil {
		return err
	}
	l, err := lock(filepath.Join(c.dir, clusterLockName))
	if err != nil {
		return fmt.Errorf("cluster/%s: %w", name, err)
	}
	defer l.unlock()
	if err := readJSON(filepath.Join(c.dir, clusterFileName), &c.file); err != nil {
		return err
	}
	changed, err := fn(&c.file)
	if err != nil || !changed {
		return err
	}
	if err := writeJSONAtomic(filepath.Join(c.dir, clusterFileName), &c.file); err != nil {
		return fmt.Errorf("cluster/%s: write %s: %w", name, clusterFileName, err)
	}
	return nil
}

// readVM reads one VM's record; a missing VM is ErrNotFound, a damaged one
// an error naming the file (see damagedRecord).
func (c *cluster) readVM(name string) (*vmRecord, error) {
	if err := checkName("vm", name); err != nil {
		return nil, err
	}
	path := c.vmPath(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no VM %q in cluster %s: check the name with `tlreconcile sim show`: %w", name, c.file.Name, drivers.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var r *vmRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, c.damagedRecord(path, err.Error())
	}
	if r == nil {
		return nil, c.damagedRecord(path, "it holds null, not a VM record")
	}
	if why := c.recordDamage(r, name); why != "" {
		return nil, c.damagedRecord(path, why)
	}
	return r, nil
}

// errDamagedRecord marks a VM record that does not describe the VM its file
// is named after.
var errDamagedRecord = errors.New("VM record is damaged")

// damagedRecord is the error for a VM record that cannot be trusted. Observe
// fails with it rather than skip the VM or guess it: a VM missing from an
// observation is absent to the planner, which would create a second one, and
// a guessed one would be planned against values nobody knows.
func (c *cluster) damagedRecord(path, why string) error {
	return fmt.Errorf("its record %s is damaged (%s), so tlreconcile will not guess what the VM is and changes nothing in cluster %s: restore the file from a backup; or, to give the VM up, move the file out of %s (the VM then counts as absent, and the next apply creates a new one with a new vTPM): %w",
		path, why, c.file.Name, filepath.Dir(path), errDamagedRecord)
}

// recordDamage says what makes r, read from the file of VM name, unusable; "" when nothing.
func (c *cluster) recordDamage(r *vmRecord, name string) string {
	switch {
	case r.Format != stateFormat:
		return fmt.Sprintf("format %d, this build reads %d", r.Format, stateFormat)
	case r.Name != name:
		return fmt.Sprintf("it describes VM %q", r.Name)
	case r.ID == "":
		return "it has no VM id"
	case c.node(r.Node) == nil:
		return fmt.Sprintf("its node %q is not a node of the cluster", r.Node)
	case r.Generation != 1 && r.Generation != 2:
		return fmt.Sprintf("generation %d", r.Generation)
	case !validPower(r.Power):
		return fmt.Sprintf("power state %q", r.Power)
	}
	return ""
}

func validPower(p drivers.PowerState) bool {
	switch p {
	case drivers.PowerRunning, drivers.PowerOff, drivers.PowerSaved, drivers.PowerPaused, drivers.PowerOther:
		return true
	}
	return false
}

func (c *cluster) writeVM(r *vmRecord) error {
	r.Format = stateFormat
	return writeJSONAtomic(c.vmPath(r.Name), r)
}

// vmNames lists the cluster's VMs, sorted.
func (c *cluster) vmNames() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(c.dir, "vms"))
	if err != nil {
		return nil, fmt.Errorf("cluster/%s: list VMs: %w", c.file.Name, err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || filepath.Ext(n) != ".json" || n[0] == '.' {
			continue
		}
		names = append(names, n[:len(n)-len(".json")])
	}
	slices.Sort(names)
	return names, nil
}
