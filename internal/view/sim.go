package view

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// SimChange is what one `tlreconcile sim` incident did to the simulated platform: the
// resource it changed (vm/NAME, node/NAME, cluster/NAME) and a short summary.
type SimChange struct {
	Resource string
	Summary  string
}

// SimChanged writes the one line a sim control prints after it changed
// something, "vm/avd-01: drifted secureBoot=false"; scripts grep for it.
func SimChanged(w io.Writer, c SimChange) error {
	_, err := fmt.Fprintf(w, "%s: %s\n", c.Resource, c.Summary)
	return err
}

// SimInit is the outcome of `tlreconcile sim init` for one cluster.
type SimInit struct {
	Cluster string
	Nodes   []string // the cluster's nodes
	Created bool     // false: it existed already, with Nodes
	Asked   []string // the nodes asked for, when it existed already
}

// SimInitialised writes the line `sim init` prints per cluster, saying
// whether it was created or existed already, so running init twice is visibly
// harmless; an existing cluster with other nodes than asked says how to get
// those.
func SimInitialised(w io.Writer, r SimInit) error {
	verb := "exists already"
	if r.Created {
		verb = "created"
	}
	summary := fmt.Sprintf("%s (nodes %s)", verb, strings.Join(r.Nodes, ", "))
	if !r.Created && len(r.Asked) > 0 && !slices.Equal(r.Asked, r.Nodes) {
		summary += fmt.Sprintf("; not the nodes asked for (%s): an existing cluster keeps its nodes; start from a fresh --state-dir to get those", strings.Join(r.Asked, ", "))
	}
	return SimChanged(w, SimChange{Resource: "cluster/" + r.Cluster, Summary: summary})
}
