package plan

import (
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// finish filters by target, sorts, counts and checks that the steps can be ordered.
func (b *builder) finish(desired *spec.Desired) error {
	p := b.plan
	if b.targets != nil {
		p.Changes = keepTargeted(p.Changes, b.targets)
	}
	sortChanges(p.Changes)
	sortFindings(p.Findings)
	for i := range p.Changes {
		c := &p.Changes[i]
		if b.opts.BlockDestructive {
			blockDestructive(c)
		}
		Decide(c)
		noNulls(c)
		count(&p.Summary, c)
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
	_, err := Order(p)
	return err
}

// keepTargeted keeps the changes of the targeted resources plus the changes
// (node steps) they depend on. It filters changes in place.
func keepTargeted(changes []Change, targets map[string]bool) []Change {
	needed := map[string]bool{}
	for _, c := range changes {
		if !targets[c.Resource] {
			continue
		}
		for _, s := range c.Steps {
			for _, d := range s.DependsOn {
				needed[d] = true
			}
		}
	}
	kept := changes[:0]
	for _, c := range changes {
		if targets[c.Resource] || providesAny(c, needed) {
			kept = append(kept, c)
		}
	}
	return kept
}

// providesAny: a step of c is one of the needed step IDs.
func providesAny(c Change, needed map[string]bool) bool {
	for _, s := range c.Steps {
		if needed[s.ID] {
			return true
		}
	}
	return false
}

// sortChanges orders changes clusters first, then nodes, then VMs, each by
// resource and then cluster, so the plan never depends on input order.
func sortChanges(changes []Change) {
	sort.SliceStable(changes, func(i, j int) bool {
		a, c := changes[i], changes[j]
		if ra, rc := resourceRank(a.Resource), resourceRank(c.Resource); ra != rc {
			return ra < rc
		}
		if a.Resource != c.Resource {
			return a.Resource < c.Resource
		}
		return a.Cluster < c.Cluster
	})
}

// sortFindings orders findings errors first, then by resource, rule,
// cluster and message.
func sortFindings(findings []Finding) {
	sort.SliceStable(findings, func(i, j int) bool {
		a, c := findings[i], findings[j]
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
}

// noNulls gives c's lists their JSON form: [] never null.
func noNulls(c *Change) {
	if c.Reasons == nil {
		c.Reasons = []string{}
	}
	for j := range c.Steps {
		if c.Steps[j].DependsOn == nil {
			c.Steps[j].DependsOn = []string{}
		}
	}
}

// count adds c to the summary: by action, and blocked when any step is.
func count(s *Summary, c *Change) {
	switch c.Action {
	case ActionCreate:
		s.Create++
	case ActionUpdate:
		s.Update++
	case ActionReplace:
		s.Replace++
	case ActionDelete:
		s.Delete++
	}
	if anyBlocked(c) {
		s.Blocked++
	}
}

func anyBlocked(c *Change) bool {
	for _, s := range c.Steps {
		if s.Blocked != nil {
			return true
		}
	}
	return false
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
