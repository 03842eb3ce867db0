package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// showOptions are the flags of `tlreconcile show`.
type showOptions struct {
	root      *rootOptions
	filenames []string
	format    string
}

func newShowCmd(root *rootOptions) *cobra.Command {
	o := &showOptions{root: root}
	cmd := &cobra.Command{
		Use:   "show -f PATH... [--format text|json]",
		Short: "Print the observed state of every declared cluster, and findings",
		Long: `show observes every cluster the YAML declares and prints its nodes (IgvmAgent,
live-migration IPsec) and VMs (power, node, generation, Secure Boot and template, TPM, key
protector, VBS, state encryption, file access, short vTPM identity), then findings such as
unmanaged VMs, nodes without IgvmAgent, unencrypted live migration and file-access violations.

--format json writes a versioned observation snapshot that 'tlreconcile plan --observed FILE'
reads, for jobs that cannot reach the clusters (pull requests from forks). It changes nothing.`,
		Example: `  # look at the example cluster
  tlreconcile show -f examples/basic

  # save an observation for a job without cluster access
  tlreconcile show -f desired/ --format json > observed.json
  tlreconcile plan -f desired/ --observed observed.json`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.filenames, "filename", "f", nil, "file or directory to read, repeatable; - reads standard input")
	f.StringVar(&o.format, "format", view.FormatText, "output format: text or json (an observation snapshot)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	return cmd
}

// Validate checks the flags before any I/O.
func (o *showOptions) Validate() error {
	return errors.Join(
		needInput("show", o.filenames),
		oneOf("show", "format", o.format, view.FormatText, view.FormatJSON))
}

// Run loads, observes and renders the observation with its findings.
func (o *showOptions) Run(ctx context.Context) error {
	desired, err := loadDesired(o.root, "show", o.filenames)
	if err != nil {
		return err
	}
	s, err := o.root.openSession(ctx, true, 0)
	if err != nil {
		return err
	}
	defer o.root.closeSession(s)
	observed, err := s.Observe(ctx, clusterRefs(desired))
	if err != nil {
		return err
	}
	p, err := plan.Build(desired, observed, s.PlanOptions(plan.Options{}))
	if err != nil {
		return err
	}
	if err := view.Show(o.root.stdout, o.format, observed, p.Findings); err != nil {
		return fmt.Errorf("show: write output: %w", err)
	}
	return nil
}
