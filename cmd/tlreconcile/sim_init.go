package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/sim"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// simInitOptions are the flags of `tlreconcile sim init`.
type simInitOptions struct {
	simOptions
	nodes     []string
	backend   string
	filenames []string
}

func newSimInitCmd(root *rootOptions) *cobra.Command {
	o := &simInitOptions{simOptions: simOptions{root: root}}
	cmd := &cobra.Command{
		Use:   "init (--cluster NAME --nodes a,b | -f PATH)",
		Short: "Create a sim cluster: every node Up, IgvmAgent running, live-migration IPsec off",
		Long: `init creates a fresh simulated Azure Local cluster, either from flags or from every
Cluster document with driver: sim in the YAML under -f. Running it again for an existing
cluster with the same nodes changes nothing. Observing a Cluster document (plan, apply, show)
creates its sim cluster too; init is for starting one by hand.`,
		Example: `  tlreconcile sim init --cluster hci-west --nodes node1,node2,node3
  tlreconcile sim init --cluster lab --nodes n1,n2 --vtpm-backend swtpm
  tlreconcile sim init -f examples/basic`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.addClusterFlag(cmd)
	cmd.Flags().StringSliceVar(&o.nodes, "nodes", nil, "node names, comma-separated")
	cmd.Flags().StringVar(&o.backend, "vtpm-backend", "", "vTPM backend: reference (the default: in-process reference TPM) or swtpm (one swtpm process per vTPM); with -f the Cluster document's options.vtpmBackend chooses")
	cmd.Flags().StringArrayVarP(&o.filenames, "filename", "f", nil, "YAML file or directory whose sim Cluster documents to create, repeatable")
	return cmd
}

// Validate checks the flags before any I/O: the clusters come either from
// flags or from YAML, never half from each.
func (o *simInitOptions) Validate() error {
	if len(o.filenames) > 0 {
		if o.cluster != "" || len(o.nodes) > 0 {
			return errors.New("sim init: give either -f PATH or --cluster with --nodes, not both")
		}
		if o.backend != "" {
			return errors.New("sim init: --vtpm-backend does not apply with -f PATH: set options: {vtpmBackend: swtpm} in the Cluster document instead")
		}
		return nil
	}
	if o.cluster == "" || len(o.nodes) == 0 {
		return errors.New("sim init: name the cluster and its nodes (--cluster hci-west --nodes node1,node2) or read them from YAML with -f PATH")
	}
	if o.backend == "" {
		return nil // the reference TPM
	}
	return oneOf("sim init", "vtpm-backend", o.backend, sim.BackendReference, sim.BackendSwtpm)
}

// Run creates every cluster asked for and says for each whether it was new.
func (o *simInitOptions) Run(context.Context) error {
	d, err := sim.New(o.root.driverConfig())
	if err != nil {
		return err
	}
	refs, err := o.refs()
	if err != nil {
		return err
	}
	for _, ref := range refs {
		created, err := d.Init(ref)
		if err != nil {
			return err
		}
		if err := view.SimInitialised(o.root.stdout, view.SimInit{Cluster: ref.Name, Nodes: ref.Nodes, Created: created}); err != nil {
			return err
		}
	}
	return nil
}

// refs returns the clusters to create: the one the flags name, or every sim
// Cluster document under -f.
func (o *simInitOptions) refs() ([]drivers.ClusterRef, error) {
	if len(o.filenames) == 0 {
		backend := o.backend
		if backend == "" {
			backend = sim.BackendReference
		}
		return []drivers.ClusterRef{{Name: o.cluster, Driver: sim.Name, Nodes: o.nodes, Options: map[string]any{"vtpmBackend": backend}}}, nil
	}
	desired, diags := spec.Load(spec.LoadOptions{Paths: o.filenames, Stdin: o.root.stdin})
	if diags.HasErrors() {
		return nil, fmt.Errorf("sim init: the YAML has errors, fix them first (see `tlreconcile validate -f %s`): %w", strings.Join(o.filenames, " -f "), diags.Err())
	}
	var refs []drivers.ClusterRef
	for _, c := range desired.Clusters {
		if c.Driver == sim.Name {
			refs = append(refs, drivers.ClusterRef{Name: c.Name, Driver: c.Driver, Nodes: c.Nodes, Options: c.Options})
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("sim init: no Cluster document with driver: sim under %s: add one or use --cluster and --nodes", strings.Join(o.filenames, ", "))
	}
	return refs, nil
}
