package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// The incident commands of the simulated Azure Local (the platform driver:
// sim runs on and `sim serve` serves) live in sim_<incident>.go files; this
// file holds what they share.

// simGroupPlatform is the help group of `tlreconcile sim`'s commands.
const simGroupPlatform = "platform"

// azlOptions are the flags every incident command of the simulated Azure
// Local shares.
type azlOptions struct {
	root    *rootOptions
	cluster string
}

func (o *azlOptions) addClusterFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "simulated Azure Local cluster (may be omitted when exactly one exists)")
}

// azlCommand marks cmd as an incident of the simulated Azure Local for
// `tlreconcile sim --help`.
func azlCommand(cmd *cobra.Command) *cobra.Command {
	cmd.GroupID = simGroupPlatform
	return cmd
}

// openHost opens the simulated Azure Local under --state-dir, creating its
// default cluster on first use as `sim serve` does, so an incident can be
// staged before the server starts.
func (o *azlOptions) openHost() (*cluster.Host, error) {
	return cluster.Open(o.root.stateDir, cluster.Options{})
}

// change opens the platform, lets act change it and prints the one line act
// says it changed; nothing is printed when act fails.
func (o *azlOptions) change(ctx context.Context, act func(context.Context, *cluster.Host) (view.SimChange, error)) error {
	h, err := o.openHost()
	if err != nil {
		return err
	}
	defer h.Close()
	c, err := act(ctx, h)
	if err != nil {
		return err
	}
	return view.SimChanged(o.root.stdout, c)
}

// clusterName resolves --cluster against the clusters there are.
func (o *azlOptions) clusterName(h *cluster.Host) (string, error) {
	names, err := h.Clusters()
	if err != nil {
		return "", err
	}
	return pickCluster(o.cluster, names)
}

func pickCluster(want string, names []string) (string, error) {
	if want == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		return "", fmt.Errorf("the simulated Azure Local has %d clusters (%s): name one with --cluster", len(names), strings.Join(names, ", "))
	}
	for _, n := range names {
		if strings.EqualFold(n, want) {
			return n, nil
		}
	}
	return "", fmt.Errorf("cluster %q: no such simulated Azure Local cluster; there are: %s", want, strings.Join(names, ", "))
}

// observeAll observes --cluster, or every cluster when it is omitted.
func (o *azlOptions) observeAll(ctx context.Context, h *cluster.Host, opts cluster.ObserveOptions) ([]cluster.ClusterState, error) {
	names, err := h.Clusters()
	if err != nil {
		return nil, err
	}
	if o.cluster != "" {
		name, err := pickCluster(o.cluster, names)
		if err != nil {
			return nil, err
		}
		names = []string{name}
	}
	out := make([]cluster.ClusterState, 0, len(names))
	for _, n := range names {
		st, err := h.Observe(ctx, n, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// findVM resolves a VM by name (or VM ID) in --cluster, or in every cluster.
// A missing or ambiguous name is an error that lists what exists; the Arc
// resource bridge is refused with cluster.ErrInfrastructure.
func (o *azlOptions) findVM(ctx context.Context, h *cluster.Host, name string) (cluster.VMState, error) {
	states, err := o.observeAll(ctx, h, cluster.ObserveOptions{})
	if err != nil {
		return cluster.VMState{}, err
	}
	return matchVM(states, name)
}

func matchVM(states []cluster.ClusterState, name string) (cluster.VMState, error) {
	var all, found []cluster.VMState
	for _, st := range states {
		for _, v := range st.VMs {
			all = append(all, v)
			if strings.EqualFold(v.Name, name) || strings.EqualFold(v.VMID, name) {
				found = append(found, v)
			}
		}
	}
	switch {
	case len(found) == 1 && found[0].Infrastructure:
		return cluster.VMState{}, fmt.Errorf("vm/%s: %w; choose a workload VM", found[0].Name, cluster.ErrInfrastructure)
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return cluster.VMState{}, fmt.Errorf("vm %q is ambiguous: %s; name it by its VM ID, or pick the cluster with --cluster", name, vmList(found))
	case len(all) == 0:
		return cluster.VMState{}, fmt.Errorf("vm %q: the simulated Azure Local has no VMs yet", name)
	}
	return cluster.VMState{}, fmt.Errorf("vm %q: no such VM on the simulated Azure Local; there are: %s", name, vmList(all))
}

// vmList names VMs with where they run and their VM ID, so a user can pick
// one; at most maxListed, then how many more (`sim platform` lists them all).
func vmList(vms []cluster.VMState) string {
	n := min(len(vms), maxListed)
	parts := make([]string, n, n+1)
	for i, v := range vms[:n] {
		parts[i] = fmt.Sprintf("%s (cluster %s, node %s, VM ID %s)", v.Name, v.Cluster, v.Node, v.VMID)
	}
	if more := len(vms) - n; more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more (tlreconcile sim platform lists them)", more))
	}
	return strings.Join(parts, ", ")
}

// maxListed bounds the VMs an error message names.
const maxListed = 10
