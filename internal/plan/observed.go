package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// ObservedFormatVersion is the version of the observation snapshot document.
const ObservedFormatVersion = "1"

// Snapshot is a saved observation (`tlreconcile show --format json`), so that a
// job without cluster access can plan against it (`plan --observed FILE`).
type Snapshot struct {
	FormatVersion string              `json:"format_version"`
	ObservedAt    time.Time           `json:"observed_at"` // the oldest cluster observation
	Clusters      []*drivers.Observed `json:"clusters"`    // sorted by name
	// Findings are what show reported beside the observation; plan ignores them.
	Findings []Finding `json:"findings"`
}

// WriteObserved writes the observations as a versioned snapshot document.
func WriteObserved(w io.Writer, observed map[string]*drivers.Observed, findings []Finding) error {
	s := Snapshot{FormatVersion: ObservedFormatVersion, Clusters: []*drivers.Observed{}, Findings: findings}
	if s.Findings == nil {
		s.Findings = []Finding{}
	}
	for _, o := range observed {
		if o == nil {
			continue
		}
		c := *o
		if c.Nodes == nil {
			c.Nodes = []drivers.Node{}
		}
		if c.VMs == nil {
			c.VMs = []drivers.VM{}
		}
		s.Clusters = append(s.Clusters, &c)
		if s.ObservedAt.IsZero() || o.ObservedAt.Before(s.ObservedAt) {
			s.ObservedAt = o.ObservedAt
		}
	}
	sort.Slice(s.Clusters, func(i, j int) bool { return s.Clusters[i].Cluster < s.Clusters[j].Cluster })
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&s); err != nil {
		return fmt.Errorf("observed snapshot: write: %w", err)
	}
	return nil
}

// ReadObserved reads a snapshot written by WriteObserved and returns the
// observations by cluster name and the time of the oldest one.
func ReadObserved(r io.Reader) (map[string]*drivers.Observed, time.Time, error) {
	sp, err := decodeSnapshot(r, maxFileBytes)
	switch {
	case errors.Is(err, errSnapshotTooBig):
		return nil, time.Time{}, fmt.Errorf("observed snapshot: larger than %d MB; write it with tlreconcile show --format json", maxFileBytes>>20)
	case errors.Is(err, errIsPlan):
		return nil, time.Time{}, errors.New("observed snapshot: this is a plan file (from tlreconcile plan -out), not an observation; apply it with tlreconcile apply FILE, or write an observation with tlreconcile show --format json")
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("observed snapshot: not valid JSON: %w; write it with tlreconcile show --format json", err)
	}
	s := *sp
	if s.FormatVersion != ObservedFormatVersion {
		return nil, time.Time{}, fmt.Errorf("observed snapshot: format_version %q, this tlreconcile reads %q; write it again with tlreconcile show --format json", s.FormatVersion, ObservedFormatVersion)
	}
	out := make(map[string]*drivers.Observed, len(s.Clusters))
	var oldestAt time.Time
	for i, o := range s.Clusters {
		if o == nil || o.Cluster == "" {
			return nil, time.Time{}, fmt.Errorf("observed snapshot: cluster %d has no name; write it again with tlreconcile show --format json", i)
		}
		if _, dup := out[o.Cluster]; dup {
			return nil, time.Time{}, fmt.Errorf("observed snapshot: cluster %s appears twice; write it again with tlreconcile show --format json", o.Cluster)
		}
		if err := checkObserved(o); err != nil {
			return nil, time.Time{}, fmt.Errorf("observed snapshot: cluster/%s: %w; write it again with tlreconcile show --format json", o.Cluster, err)
		}
		sort.Slice(o.Nodes, func(i, j int) bool { return o.Nodes[i].Name < o.Nodes[j].Name })
		sort.Slice(o.VMs, func(i, j int) bool { return o.VMs[i].Name < o.VMs[j].Name })
		out[o.Cluster] = o
		if oldestAt.IsZero() || o.ObservedAt.Before(oldestAt) {
			oldestAt = o.ObservedAt
		}
	}
	return out, oldestAt, nil
}

func checkObserved(o *drivers.Observed) error {
	nodes := map[string]bool{}
	for _, n := range o.Nodes {
		if n.Name == "" {
			return fmt.Errorf("a node has no name")
		}
		if nodes[n.Name] {
			return fmt.Errorf("node/%s appears twice", n.Name)
		}
		nodes[n.Name] = true
	}
	vms := map[string]bool{}
	for _, v := range o.VMs {
		if v.Name == "" {
			return fmt.Errorf("a VM has no name")
		}
		if vms[v.Name] {
			return fmt.Errorf("vm/%s appears twice", v.Name)
		}
		vms[v.Name] = true
		switch v.Power {
		case drivers.PowerRunning, drivers.PowerOff, drivers.PowerSaved, drivers.PowerPaused, drivers.PowerOther:
		default:
			return fmt.Errorf("vm/%s: unknown power state %q", v.Name, v.Power)
		}
	}
	return nil
}
