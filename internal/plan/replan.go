package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// canonical is desired with every list non-nil, so that the recorded
// desired state, its JSON and its hash are the same after a round trip
// through a plan file.
func canonical(desired *spec.Desired) *spec.Desired {
	d := *desired
	if d.Clusters == nil {
		d.Clusters = []spec.Cluster{}
	}
	if d.VMs == nil {
		d.VMs = []spec.VM{}
	}
	if d.Catalog == nil {
		d.Catalog = []spec.CatalogImage{}
	}
	if d.Files == nil {
		d.Files = []string{}
	}
	return &d
}

// record keeps what Build was given in the plan, for Replan.
func record(desired *spec.Desired, opts Options) Inputs {
	in := Inputs{Desired: desired, Options: opts}
	in.Positions.Clusters = make([]spec.Pos, len(desired.Clusters))
	for i, c := range desired.Clusters {
		in.Positions.Clusters[i] = c.Pos
	}
	in.Positions.VMs = make([]spec.Pos, len(desired.VMs))
	for i, v := range desired.VMs {
		in.Positions.VMs[i] = v.Pos
	}
	in.Positions.Catalog = make([]spec.Pos, len(desired.Catalog))
	for i, img := range desired.Catalog {
		in.Positions.Catalog[i] = img.Pos
	}
	return in
}

// restore is the recorded desired state with its positions, or an error
// naming what is missing.
func (in Inputs) restore() (*spec.Desired, error) {
	d := in.Desired
	if d == nil {
		return nil, fmt.Errorf("the plan records no desired state to plan again from")
	}
	pos := in.Positions
	if len(pos.Clusters) != len(d.Clusters) || len(pos.VMs) != len(d.VMs) || len(pos.Catalog) != len(d.Catalog) {
		return nil, fmt.Errorf("the plan's recorded positions do not match its recorded desired state")
	}
	out := *d
	out.Clusters = append([]spec.Cluster(nil), d.Clusters...)
	out.VMs = append([]spec.VM(nil), d.VMs...)
	out.Catalog = append([]spec.CatalogImage(nil), d.Catalog...)
	for i := range out.Clusters {
		out.Clusters[i].Pos = pos.Clusters[i]
	}
	for i := range out.VMs {
		out.VMs[i].Pos = pos.VMs[i]
	}
	for i := range out.Catalog {
		out.Catalog[i].Pos = pos.Catalog[i]
	}
	return &out, nil
}

// ReplanError lists how a plan differs from the plan Build makes again from
// its own recorded inputs: a file edited and sealed again, or made by
// something other than this release's planner.
type ReplanError struct {
	Diffs []string
}

func (e *ReplanError) Error() string {
	return "the plan is not what the planner makes from its own recorded desired state and options against the clusters now:\n  " +
		strings.Join(e.Diffs, "\n  ")
}

// Replan builds the plan again from p's recorded inputs against observed and
// returns a *ReplanError listing every difference in p's changes (nil: the
// same changes, byte for byte).
func Replan(p *Plan, observed map[string]*drivers.Observed) error {
	d, err := p.Inputs.restore()
	if err != nil {
		return &ReplanError{Diffs: []string{err.Error()}}
	}
	var diffs []string
	if h := d.Hash(); h != p.DesiredHash {
		diffs = append(diffs, fmt.Sprintf("desired_hash is %s, the recorded desired state hashes to %s", p.DesiredHash, h))
	}
	q, err := Build(d, observed, p.Inputs.Options)
	if err != nil {
		return &ReplanError{Diffs: append(diffs, "planning again failed: "+err.Error())}
	}
	diffs = append(diffs, diffChanges(p.Changes, q.Changes)...)
	if len(diffs) > 0 {
		return &ReplanError{Diffs: diffs}
	}
	return nil
}

// diffChanges lists the changes and steps that differ between the file's
// (have) and the planner's (want), by resource and step id.
func diffChanges(have, want []Change) []string {
	index := func(cs []Change) map[string]*Change {
		m := make(map[string]*Change, len(cs))
		for i := range cs {
			m[cs[i].Address().Key()] = &cs[i]
		}
		return m
	}
	h, w := index(have), index(want)
	var out []string
	for k, c := range h {
		if w[k] == nil {
			out = append(out, fmt.Sprintf("%s: the file has a change (%s) that planning again does not make", c.Resource, c.Action))
		}
	}
	for k, c := range w {
		hc := h[k]
		if hc == nil {
			out = append(out, fmt.Sprintf("%s: the file lacks the %s change that planning again makes", c.Resource, c.Action))
			continue
		}
		if sameJSON(hc, c) {
			continue // the common case: only a difference is taken apart field by field
		}
		out = append(out, diffChange(hc, c)...)
	}
	sort.Strings(out)
	return out
}

// diffChange compares one change: its own fields, then its steps by id.
func diffChange(have, want *Change) []string {
	var out []string
	a, b := *have, *want
	a.Steps, b.Steps = nil, nil
	for _, d := range diffJSON(a, b) {
		out = append(out, have.Resource+": "+d)
	}
	hs := map[string]*Step{}
	for i := range have.Steps {
		hs[have.Steps[i].ID] = &have.Steps[i]
	}
	ws := map[string]bool{}
	for i := range want.Steps {
		s := &want.Steps[i]
		ws[s.ID] = true
		if hs[s.ID] == nil {
			out = append(out, fmt.Sprintf("%s: the file lacks step %s (%s)", have.Resource, s.ID, s.Kind))
			continue
		}
		for _, d := range diffJSON(*hs[s.ID], *s) {
			out = append(out, fmt.Sprintf("%s: step %s: %s", have.Resource, s.ID, d))
		}
	}
	for i := range have.Steps {
		if s := &have.Steps[i]; !ws[s.ID] {
			out = append(out, fmt.Sprintf("%s: the file has step %s (%s) that planning again does not make", have.Resource, s.ID, s.Kind))
		}
	}
	if len(out) == 0 && !sameOrder(have.Steps, want.Steps) {
		out = append(out, have.Resource+": the file lists the steps in another order")
	}
	return out
}

// sameJSON reports whether a and b encode to the same JSON.
func sameJSON(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

func sameOrder(a, b []Step) bool {
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// diffJSON compares two values field by field, as their JSON, and returns
// "path is X in the file, planning again gives Y" for each leaf that differs.
func diffJSON(have, want any) []string {
	fh, fw := flatten(have), flatten(want)
	var out []string
	for k, v := range fw {
		if hv, ok := fh[k]; !ok || hv != v {
			out = append(out, fmt.Sprintf("%s is %s in the file, planning again gives %s", k, orAbsent(hv, ok), v))
		}
	}
	for k, v := range fh {
		if _, ok := fw[k]; !ok {
			out = append(out, fmt.Sprintf("%s is %s in the file, planning again gives (absent)", k, v))
		}
	}
	sort.Strings(out)
	return out
}

func orAbsent(v string, ok bool) string {
	if !ok {
		return "(absent)"
	}
	return v
}

// flatten maps every JSON leaf of v to its compact JSON text, keyed by its
// dotted path.
func flatten(v any) map[string]string {
	b, err := json.Marshal(v)
	out := map[string]string{}
	if err != nil {
		out[""] = err.Error()
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		out[""] = err.Error()
		return out
	}
	walk("", tree, out)
	return out
}

func walk(path string, v any, out map[string]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			walk(join(k), x, out)
		}
	case []any:
		if len(t) == 0 {
			out[path] = "[]"
		}
		for i, x := range t {
			walk(join(fmt.Sprint(i)), x, out)
		}
	default:
		b, _ := json.Marshal(t)
		out[path] = string(b)
	}
}
