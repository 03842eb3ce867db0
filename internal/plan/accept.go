package plan

import "maps"

// Acceptances say for which VMs a vTPM identity that differs from the one
// recorded on the VM is recorded as the new identity instead of reported as
// vtpm-state-lost. Keys are VM keys, drivers.Resource.Key ("vm/CLUSTER/NAME").
// They come from two places: an interrupted apply's journal (a planned
// create or reset completed or was pending) and the operator's
// --accept-vtpm-identity. A plan file records them, so that re-planning from
// the file gives the same steps.
type Acceptances struct {
	// Any accepts whatever identity the VM has now: the operator's
	// acceptance, or a journaled step whose resulting identity was not read.
	Any map[string]bool `json:"any,omitempty"`
	// Only accepts exactly this identity: the journal read it right after
	// the planned step, so any other new identity is still a loss. It wins
	// over Any for the same key (the journal's keys are in both).
	Only map[string]string `json:"only,omitempty"`
}

// Accepts says whether the changed identity cur of the VM key is accepted.
func (a Acceptances) Accepts(key, cur string) bool {
	if id, ok := a.Only[key]; ok && id != "" {
		return id == cur
	}
	return a.Any[key]
}

// WithOperator returns a copy of a that also accepts whatever identity the
// VMs keys have now, lifting the journal's narrowing to one identity for
// them: the operator has recovered their secrets and accepts what is there.
func (a Acceptances) WithOperator(keys ...string) Acceptances {
	out := Acceptances{Any: maps.Clone(a.Any), Only: maps.Clone(a.Only)}
	if len(keys) > 0 && out.Any == nil {
		out.Any = make(map[string]bool, len(keys))
	}
	for _, k := range keys {
		out.Any[k] = true
		delete(out.Only, k)
	}
	return out
}

// Empty reports whether nothing is accepted.
func (a Acceptances) Empty() bool { return len(a.Any) == 0 && len(a.Only) == 0 }
