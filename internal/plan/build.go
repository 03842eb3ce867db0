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
		catalog: map[spec.Image]spec.CatalogImage{},
	}
	for _, img := range desired.Catalog {
		if _, dup := b.catalog[img.Image]; !dup {
			b.catalog[img.Image] = img
		}
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
	return drivers.ClusterRef{Name: c.Name, Driver: c.Driver, Nodes: nodes, Options: c.Options}
}

type builder struct {
	opts      Options
	plan      *Plan
	targets   map[string]bool // nil: everything
	ambiguous map[string]bool // resource names used in more than one cluster
	catalog   map[spec.Image]spec.CatalogImage
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

// finish filters by target, sorts, counts and checks that the steps can be ordered.
func (b *builder) finish(desired *spec.Desired) error {
	p := b.plan
	if b.targets != nil {
		// keep targeted changes plus the node changes they depend on
		needed := map[string]bool{}
		for _, c := range p.Changes {
			if b.targets[c.Resource] {
				for _, s := range c.Steps {
					for _, d := range s.DependsOn {
						needed[d] = true
					}
				}
			}
		}
		kept := p.Changes[:0]
		for _, c := range p.Changes {
			keep := b.targets[c.Resource]
			for _, s := range c.Steps {
				if needed[s.ID] {
					keep = true
				}
			}
			if keep {
				kept = append(kept, c)
			}
		}
		p.Changes = kept
	}
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, c := p.Changes[i], p.Changes[j]
		if ra, rc := resourceRank(a.Resource), resourceRank(c.Resource); ra != rc {
			return ra < rc
		}
		if a.Resource != c.Resource {
			return a.Resource < c.Resource
		}
		return a.Cluster < c.Cluster
	})
	sort.SliceStable(p.Findings, func(i, j int) bool {
		a, c := p.Findings[i], p.Findings[j]
		if sa, sc := severityRank(a.Severity), severityRank(c.Severity); sa != sc {
			return sa < sc
		}
		if a.Resource != c.Resource {
			return a.Resource < c.Resource
		}
		if a.Rule != c.Rule {
			return a.Rule < c.Rule
		}
		if a.Cluster != c.Cluster {
			return a.Cluster < c.Cluster
		}
		return a.Message < c.Message
	})
	for i := range p.Changes {
		c := &p.Changes[i]
		if b.opts.BlockDestructive {
			blockDestructive(c)
		}
		Decide(c)
		if c.Reasons == nil {
			c.Reasons = []string{}
		}
		blocked := false
		for j := range c.Steps {
			if c.Steps[j].DependsOn == nil {
				c.Steps[j].DependsOn = []string{}
			}
			if c.Steps[j].Blocked != nil {
				blocked = true
			}
		}
		switch c.Action {
		case ActionCreate:
			p.Summary.Create++
		case ActionUpdate:
			p.Summary.Update++
		case ActionReplace:
			p.Summary.Replace++
		case ActionDelete:
			p.Summary.Delete++
		}
		if blocked {
			p.Summary.Blocked++
		}
	}
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	if p.Findings == nil {
		p.Findings = []Finding{}
	}
	if p.Clusters == nil {
		p.Clusters = []drivers.ClusterRef{}
	}
	p.DesiredHash = desired.Hash()
	if _, err := Order(p); err != nil {
		return err
	}
	return nil
}

func resourceRank(r string) int {
	switch {
	case strings.HasPrefix(r, "cluster/"):
		return 0
	case strings.HasPrefix(r, "node/"):
		return 1
	default:
		return 2
	}
}

func severityRank(s Severity) int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	default:
		return 2
	}
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
