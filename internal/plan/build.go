package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Finding rules: stable ids, part of the JSON contract.
const (
	RuleVTPMStateLost            = "vtpm-state-lost"
	RuleMovedByCluster           = "moved-by-cluster"
	RuleUnmanagedVM              = "unmanaged-vm"
	RuleManagedVMNotDeclared     = "managed-vm-not-declared"
	RuleIgvmAgentAbsent          = "igvm-agent-absent"
	RuleIgvmAgentNotRunning      = "igvm-agent-not-running"
	RuleLiveMigrationUnencrypted = "live-migration-unencrypted"
	RuleFileAccess               = "file-access-violation"
	RuleImageOutsideCatalog      = "image-outside-builtin-catalog"
	RuleNodeNotObserved          = "node-not-observed"
	RuleProtectReleased          = "protect-released"
	RuleInfrastructureVM         = "infrastructure-vm"
)

// VTPMStateLostMessage is the first sentence of every vtpm-state-lost finding.
const VTPMStateLostMessage = "vTPM state lost: secrets sealed to the vTPM, such as BitLocker keys, are gone; check the last migration or failover"

// Build diffs desired against observed (by cluster name) and returns the plan.
// It is pure and deterministic: the same inputs give a byte-identical plan.
// Every cluster desired declares must have an observation.
func Build(desired *spec.Desired, observed map[string]*drivers.Observed, opts Options) (*Plan, error) {
	if desired == nil {
		return nil, errors.New("plan: no desired state; load the YAML first")
	}
	desired = canonical(desired)
	b := &builder{
		opts:    opts,
		plan:    &Plan{FormatVersion: FormatVersion, Observed: map[string]string{}},
		catalog: desired.CatalogImage,
	}
	if err := b.prepareTargets(desired, observed); err != nil {
		return nil, err
	}
	b.ambiguous = ambiguousNames(desired, observed)

	nodes := 0
	for _, o := range observed {
		if o != nil {
			nodes += len(o.Nodes)
		}
	}
	b.plan.Changes = make([]Change, 0, len(desired.VMs)+nodes)
	vmsByCluster := map[string][]*spec.VM{}
	for i := range desired.VMs {
		v := &desired.VMs[i]
		vmsByCluster[v.Cluster] = append(vmsByCluster[v.Cluster], v)
	}
	clusters := make([]spec.Cluster, len(desired.Clusters))
	copy(clusters, desired.Clusters)
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].Name < clusters[j].Name })
	known := map[string]bool{}
	for _, c := range clusters {
		known[c.Name] = true
	}
	for _, v := range desired.VMs {
		if !known[v.Cluster] {
			return nil, fmt.Errorf("vm/%s: cluster %q is not declared; add a Cluster document named %q or fix metadata.cluster", v.Name, v.Cluster, v.Cluster)
		}
	}
	for _, c := range clusters {
		obs := observed[c.Name]
		if obs == nil {
			return nil, fmt.Errorf("cluster/%s: no observation of this cluster; observe it (or add it to the --observed file) and plan again", c.Name)
		}
		b.plan.Clusters = append(b.plan.Clusters, ClusterRef(c))
		if b.plan.ObservedAt.IsZero() || obs.ObservedAt.Before(b.plan.ObservedAt) {
			b.plan.ObservedAt = obs.ObservedAt
		}
		vms := vmsByCluster[c.Name]
		sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
		b.cluster(c, obs, vms)
	}
	if err := b.finish(desired); err != nil {
		return nil, err
	}
	b.plan.Inputs = record(desired, opts)
	return b.plan, nil
}

// ClusterRef is what a driver needs to reach the cluster a Cluster document declares.
func ClusterRef(c spec.Cluster) drivers.ClusterRef {
	nodes := make([]string, len(c.Nodes))
	copy(nodes, c.Nodes)
	ref := drivers.ClusterRef{Name: c.Name, Driver: c.Driver, Nodes: nodes, Options: c.Options}
	if c.KeyBackup != nil {
		ref.KeyBackupRoot = c.KeyBackup.Destination
	}
	return ref
}

type builder struct {
	opts      Options
	plan      *Plan
	targets   map[string]bool // nil: everything
	ambiguous map[string]bool // resource names used in more than one cluster
	// catalog finds an image's catalog entry as validation and Azure do
	// (case-insensitively): spec.Desired.CatalogImage.
	catalog func(spec.Image) (spec.CatalogImage, bool)
	// shared holds the parameters many VMs' steps have in common.
	shared shared
}

func (b *builder) prepareTargets(desired *spec.Desired, observed map[string]*drivers.Observed) error {
	if len(b.opts.Targets) == 0 {
		return nil
	}
	exists := map[string]bool{}
	for _, v := range desired.VMs {
		exists["vm/"+v.Name] = true
	}
	for _, o := range observed {
		if o == nil {
			continue
		}
		for _, v := range o.VMs {
			exists["vm/"+v.Name] = true
		}
		for _, n := range o.Nodes {
			exists["node/"+n.Name] = true
		}
	}
	b.targets = map[string]bool{}
	for _, t := range b.opts.Targets {
		if !strings.HasPrefix(t, "vm/") && !strings.HasPrefix(t, "node/") {
			return fmt.Errorf("target %q: want vm/NAME or node/NAME", t)
		}
		if !exists[t] {
			return fmt.Errorf("target %s: not declared in the YAML and not found in any observed cluster; check the name", t)
		}
		b.targets[t] = true
	}
	b.plan.Targets = append([]string(nil), b.opts.Targets...)
	sort.Strings(b.plan.Targets)
	return nil
}

func (b *builder) targeted(resource string) bool {
	return b.targets == nil || b.targets[resource]
}

// ambiguousNames finds resource names present in more than one cluster; their
// step IDs carry the cluster so that IDs stay unique.
func ambiguousNames(desired *spec.Desired, observed map[string]*drivers.Observed) map[string]bool {
	seen := map[string]string{}
	amb := map[string]bool{}
	note := func(res, cluster string) {
		if c, ok := seen[res]; ok && c != cluster {
			amb[res] = true
		}
		seen[res] = cluster
	}
	for _, v := range desired.VMs {
		note("vm/"+v.Name, v.Cluster)
	}
	names := make([]string, 0, len(observed))
	for c := range observed {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		o := observed[c]
		if o == nil {
			continue
		}
		for _, v := range o.VMs {
			note("vm/"+v.Name, c)
		}
		for _, n := range o.Nodes {
			note("node/"+n.Name, c)
		}
	}
	return amb
}

func (b *builder) stepPrefix(cluster, resource string) string {
	if b.ambiguous[resource] {
		return cluster + "/" + resource
	}
	return resource
}

func (b *builder) finding(sev Severity, rule, resource, cluster, msg string) {
	b.plan.Findings = append(b.plan.Findings, Finding{Severity: sev, Rule: rule, Resource: resource, Cluster: cluster, Message: msg})
}

func (b *builder) add(ch *Change) {
	if len(ch.Steps) == 0 {
		return
	}
	b.plan.Changes = append(b.plan.Changes, *ch)
}

// HasChanges reports whether the plan would change anything (blocked changes count:
// they are still differences between the YAML and the cluster).
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 }

// fingerprint is the sha256 of an observed object's JSON, streamed into the
// hash (no intermediate buffer: a 10,000-VM plan fingerprints every VM).
func fingerprint(v any) string {
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(v); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
