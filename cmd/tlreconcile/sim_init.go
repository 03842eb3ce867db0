package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simInitOptions are the flags of `tlreconcile sim init`.
type simInitOptions struct {
	azlOptions
	nodes     []string
	filenames []string
}

func newSimInitCmd(root *rootOptions) *cobra.Command {
	o := &simInitOptions{azlOptions: azlOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "init (--cluster NAME --nodes a,b | -f PATH)",
		Short: "Create a simulated Azure Local cluster: nodes Up, agents running, the Arc resource bridge",
		Long: `init creates a simulated Azure Local cluster, from flags or from every Cluster document
with driver: sim in the YAML under -f, exactly as the first plan of that document would: every
node Up with IGVmAgent and wssdagent running, the MOC cloud agent on the first node, live
migration over TCP unencrypted (the platform's defaults), the Arc resource bridge VM on the
first node, an empty MOC key vault, and its custom location. Running it again for an existing
cluster changes nothing. It is for staging an incident before the first plan.`,
		Example: `  tlreconcile sim init --cluster hci-west --nodes node1,node2,node3
  tlreconcile sim init -f examples/basic`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "name of the cluster to create")
	cmd.Flags().StringSliceVar(&o.nodes, "nodes", nil, "node names, comma-separated")
	cmd.Flags().StringArrayVarP(&o.filenames, "filename", "f", nil, "YAML file or directory whose driver: sim Cluster documents to create, repeatable")
	return cmd
}

// Validate checks the flags before any I/O: the clusters come either from
// flags or from YAML, never half from each.
func (o *simInitOptions) Validate() error {
	if len(o.filenames) > 0 {
		if o.cluster != "" || len(o.nodes) > 0 {
			return errors.New("sim init: give either -f PATH or --cluster with --nodes, not both")
		}
		return nil
	}
	if o.cluster == "" || len(o.nodes) == 0 {
		return errors.New("sim init: name the cluster and its nodes (--cluster hci-west --nodes node1,node2) or read them from YAML with -f PATH")
	}
	return nil
}

// Run creates every cluster asked for and says for each whether it was new.
func (o *simInitOptions) Run(ctx context.Context) error {
	specs, err := o.specs()
	if err != nil {
		return err
	}
	h, err := cluster.Open(o.root.stateDir, cluster.Options{Clusters: specs})
	if err != nil {
		return fmt.Errorf("sim init: %w", err)
	}
	defer h.Close()
	created := h.Created()
	for _, s := range specs {
		r := view.SimInit{Cluster: s.Name, Nodes: s.Nodes, Created: slices.Contains(created, s.Name)}
		if !r.Created {
			// An existing cluster keeps its own nodes: say which it has, not which were asked.
			if r.Nodes, err = existingNodes(ctx, h, s.Name); err != nil {
				return fmt.Errorf("sim init: %w", err)
			}
			r.Asked = s.Nodes
		}
		if err := view.SimInitialised(o.root.stdout, r); err != nil {
			return err
		}
	}
	return nil
}

// existingNodes are the nodes the simulated cluster has.
func existingNodes(ctx context.Context, h *cluster.Host, name string) ([]string, error) {
	st, err := h.Observe(ctx, name, cluster.ObserveOptions{})
	if err != nil {
		return nil, err
	}
	nodes := make([]string, len(st.Nodes))
	for i, n := range st.Nodes {
		nodes[i] = n.Name
	}
	return nodes, nil
}

// specs returns the clusters to create: the one the flags name, or every
// driver: sim Cluster document under -f.
func (o *simInitOptions) specs() ([]cluster.Spec, error) {
	if len(o.filenames) == 0 {
		return []cluster.Spec{azurelocal.EmbeddedSpec(o.cluster, o.nodes)}, nil
	}
	desired, diags := spec.Load(spec.LoadOptions{Paths: o.filenames, Stdin: o.root.stdin})
	if diags.HasErrors() {
		return nil, fmt.Errorf("sim init: the YAML has errors, fix them first (see `tlreconcile validate -f %s`): %w", strings.Join(o.filenames, " -f "), diags.Err())
	}
	var specs []cluster.Spec
	for _, c := range desired.Clusters {
		if c.Driver == azurelocal.EmbeddedName {
			specs = append(specs, azurelocal.EmbeddedSpec(c.Name, c.Nodes))
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("sim init: no Cluster document with driver: sim under %s: add one or use --cluster and --nodes", strings.Join(o.filenames, ", "))
	}
	return specs, nil
}
