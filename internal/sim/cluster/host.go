package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// Host is the simulated Azure Local system behind the simulated ARM: its
// clusters, their nodes, key vaults and VMs, all under <stateDir>/cluster.
// Every call takes the file lock, so several Hosts (in one process or several)
// on one state dir are one system. Safe for concurrent use.
type Host struct {
	root    string
	tpm     TPM
	ownTPM  *vtpm.Reference
	agent   GuestAgent
	mu      sync.Mutex
	cache   map[string]cacheEntry
	boots   map[string]*guestboot.Boot // parsed event logs (bootcache.go), under mu
	crashAt func(step string) error    // tests: simulate a kill between writes
	created []string                   // clusters Open created
}

var _ arm.Host = (*Host)(nil)

// Open opens the system under stateDir/cluster, creating on first use every
// cluster of opts that does not exist yet (an existing cluster keeps its
// state), and repairs what an interrupted write left behind.
func Open(stateDir string, opts Options) (*Host, error) {
	h := &Host{root: filepath.Join(stateDir, "cluster"), tpm: opts.TPM, agent: opts.GuestAgent, cache: map[string]cacheEntry{}}
	for _, d := range []string{vmsDir, cacheDir, machinesDir} {
		if err := os.MkdirAll(filepath.Join(h.root, d), 0o700); err != nil {
			return nil, fmt.Errorf("cluster: open %s: %w", stateDir, err)
		}
	}
	err := h.locked(func() error {
		specs, err := h.specsToCreate(opts.Clusters)
		if err != nil {
			return err
		}
		for _, s := range specs {
			if err := h.initCluster(s); err != nil {
				return err
			}
			h.created = append(h.created, s.Name)
		}
		return h.repair()
	})
	if err != nil {
		return nil, err
	}
	if h.tpm == nil {
		// Released after every call: a process may hold several simulated
		// systems (sim serve and an incident command in tests, two clusters)
		// and the sim driver, and the C simulator is one per process.
		h.ownTPM = vtpm.NewReleasingReference()
		h.tpm = h.ownTPM
	}
	return h, nil
}

// Created names the clusters this Open created (the rest existed already).
func (h *Host) Created() []string { return slices.Clone(h.created) }

// Close releases the reference TPM when Open created it.
func (h *Host) Close() error {
	if h.ownTPM != nil {
		return h.ownTPM.Close()
	}
	return nil
}

// specsToCreate is the clusters of specs not on disk yet, or the default
// cluster when specs is empty and the system has no cluster.
func (h *Host) specsToCreate(specs []Spec) ([]Spec, error) {
	names, err := h.clusterNames()
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		if len(names) > 0 {
			return nil, nil
		}
		specs = []Spec{{Name: defaultCluster, CustomLocation: arm.DefaultCustomLocation, Nodes: []string{"node1", "node2"}}}
	}
	var out []Spec
	for _, s := range specs {
		if s.Name == "" || strings.ContainsAny(s.Name, `/\.`) || strings.HasPrefix(s.Name, "_") || len(s.Nodes) == 0 || s.CustomLocation == "" {
			return nil, fmt.Errorf("cluster %q: a cluster needs a plain name, a custom location and at least one node", s.Name)
		}
		if _, err := os.Stat(filepath.Join(h.clusterDir(s.Name), clusterJSON)); err == nil {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// initCluster writes a new cluster: every node Up with IGVmAgent and
// wssdagent running, the cloud agent on the first node, live migration over
// TCP unencrypted (the platform's defaults), and the Arc resource bridge VM
// on the first node. The bridge's record is written before the cluster file,
// so a cluster file always has its bridge.
func (h *Host) initCluster(s Spec) error {
	c := &clusterFile{Name: s.Name, CustomLocation: s.CustomLocation}
	for i, n := range s.Nodes {
		cloud := AgentNotInstalled
		if i == 0 {
			cloud = AgentRunning
		}
		c.Nodes = append(c.Nodes, nodeRecord{Name: n, Status: NodeUp, LM: LMTCP,
			Agents: map[Agent]AgentState{AgentIGVm: AgentRunning, AgentNode: AgentRunning, AgentCloud: cloud}})
	}
	id, err := newGUID()
	if err != nil {
		return err
	}
	c.BridgeVMID = id
	c.Nodes[0].VMs = 1
	bridge := &vmRecord{Name: s.Name + "-arcbridge", VMID: id, Cluster: s.Name, Node: s.Nodes[0], Power: PowerRunning,
		Isolation: isolationNone, Infrastructure: true, Processors: 4, MemoryMB: 8192,
		Owner: PrincipalAdministrators, ACL: restrictedACL(id)}
	if err := h.writeRecord(bridge); err != nil {
		return err
	}
	return h.writeCluster(c)
}

func restrictedACL(vmID string) []string {
	return []string{PrincipalAdministrators, PrincipalSystem, VMPrincipal(vmID)}
}

func (h *Host) locked(fn func() error) error {
	unlock, err := simfs.Lock(filepath.Join(h.root, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// step is where a test's crash hook simulates a kill between two writes.
func (h *Host) step(name string) error {
	if h.crashAt != nil {
		return h.crashAt(name)
	}
	return nil
}

// clusterFor finds the cluster a custom location selects.
func (h *Host) clusterFor(customLocation string) (*clusterFile, error) {
	names, err := h.clusterNames()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		c, err := h.readCluster(n)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(c.CustomLocation, customLocation) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("custom location %s: no simulated cluster behind it: %w", customLocation, ErrNotFound)
}

// mutable loads a VM that a caller (ARM or an incident) may change: not the
// resource bridge, and for ARM's calls not one created with local tools.
func (h *Host) mutable(vmID string, viaARM bool) (*vmRecord, *clusterFile, error) {
	rec, err := h.readRecord(vmID)
	if err != nil {
		return nil, nil, err
	}
	if rec.Infrastructure {
		return nil, nil, fmt.Errorf("vm %s: %w", rec.Name, ErrInfrastructure)
	}
	if viaARM && !rec.Managed {
		return nil, nil, fmt.Errorf("vm %s: %w", rec.Name, ErrUnmanaged)
	}
	c, err := h.readCluster(rec.Cluster)
	if err != nil {
		return nil, nil, err
	}
	return rec, c, nil
}

// withVM runs fn on a VM ARM may change, under the lock.
func (h *Host) withVM(vmID string, fn func(*vmRecord, *clusterFile) error) error {
	return h.locked(func() error {
		rec, c, err := h.mutable(vmID, true)
		if err != nil {
			return err
		}
		return fn(rec, c)
	})
}

// cloudAgentRuns reports why the cluster's control plane cannot act, or nil:
// creates and deletes go through the MOC cloud agent.
func cloudAgentRuns(c *clusterFile) error {
	for _, n := range c.Nodes {
		if n.Agents[AgentCloud] == AgentRunning && n.Status == NodeUp {
			return nil
		}
	}
	return fmt.Errorf("cluster %s: the MOC cloud agent does not run: start it (Start-Service wssdcloudagent): %w", c.Name, ErrBlocked)
}

// pickNode is the node of c that can host a trusted-launch VM and has the
// fewest VMs (the counts of index.go, so no record is read), ties broken by
// the cluster's node order; skip is excluded.
func (h *Host) pickNode(c *clusterFile, skip string) (string, error) {
	best, why := -1, errors.New("the cluster has no node")
	for i, n := range c.Nodes {
		if strings.EqualFold(n.Name, skip) {
			continue
		}
		if err := n.canHost(); err != nil {
			why = err
			continue
		}
		if best < 0 || n.VMs < c.Nodes[best].VMs {
			best = i
		}
	}
	if best < 0 {
		return "", fmt.Errorf("cluster %s: no node can run a trusted-launch VM (IGVmAgent and wssdagent must run): %w", c.Name, why)
	}
	return c.Nodes[best].Name, nil
}
