package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// maxFileBytes bounds what Read and ReadObserved accept, so that a wrong file
// cannot exhaust memory.
const maxFileBytes = 512 << 20

// Write writes p as the plan file: indented JSON, the contract of DESIGN §5.
func Write(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	return nil
}

// Read reads a plan file and checks that it is one this release can apply: the
// format version, op and action names, step ids, dependencies and ordering.
func Read(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("plan file: read: %w", err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("plan file: larger than %d MB; this is not a plan file tlreconcile wrote", maxFileBytes>>20)
	}
	if fileKind(data) == kindObserved {
		return nil, errors.New("plan file: this is an observed snapshot (from tlreconcile show --format json), not a plan; plan against it with tlreconcile plan -f PATH --observed FILE -out plan.json")
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("plan file: not valid plan JSON: %w; write it with tlreconcile plan -out FILE", err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("plan file: format_version %q, this tlreconcile reads %q; make the plan again with this version", p.FormatVersion, FormatVersion)
	}
	if err := Validate(&p); err != nil {
		return nil, fmt.Errorf("plan file: %w; make the plan again with tlreconcile plan -out FILE", err)
	}
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	if p.Findings == nil {
		p.Findings = []Finding{}
	}
	if p.Observed == nil {
		p.Observed = map[string]string{}
	}
	if p.Clusters == nil {
		p.Clusters = []drivers.ClusterRef{}
	}
	return &p, nil
}

// Stale compares the fingerprints the plan recorded with a fresh observation and
// returns one line per object that changed, appeared or disappeared (nil: the
// plan still holds). Clusters missing from observed are reported too.
func Stale(p *Plan, observed map[string]*drivers.Observed) []string {
	now := map[string]string{}
	var lines []string
	targets := map[string]bool{}
	for _, t := range p.Targets {
		targets[t] = true
	}
	for _, ref := range p.Clusters {
		o := observed[ref.Name]
		if o == nil {
			lines = append(lines, fmt.Sprintf("cluster/%s: not observed now", ref.Name))
			continue
		}
		for i := range o.Nodes {
			now["node/"+ref.Name+"/"+o.Nodes[i].Name] = fingerprint(&o.Nodes[i])
		}
		for i := range o.VMs {
			if len(targets) > 0 && !targets["vm/"+o.VMs[i].Name] {
				continue
			}
			now["vm/"+ref.Name+"/"+o.VMs[i].Name] = fingerprint(&o.VMs[i])
		}
	}
	missing := map[string]bool{}
	for _, l := range lines {
		missing[strings.TrimSuffix(strings.TrimPrefix(l, "cluster/"), ": not observed now")] = true
	}
	for key, fp := range p.Observed {
		if missing[clusterOf(key)] {
			continue
		}
		cur, ok := now[key]
		switch {
		case !ok:
			lines = append(lines, key+": gone since the plan was made")
		case cur != fp:
			lines = append(lines, key+": changed since the plan was made")
		}
	}
	for key := range now {
		if _, ok := p.Observed[key]; !ok {
			lines = append(lines, key+": appeared since the plan was made")
		}
	}
	sort.Strings(lines)
	return lines
}

// clusterOf returns C of "node/C/N" or "vm/C/V".
func clusterOf(key string) string {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}
