package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// validateOptions are the flags of `tlreconcile validate`.
type validateOptions struct {
	root             *rootOptions
	filenames        []string
	format           string
	warningsAsErrors bool
	maxFileSize      int64
}

func newValidateCmd(root *rootOptions) *cobra.Command {
	o := &validateOptions{root: root}
	cmd := &cobra.Command{
		Use:   "validate -f PATH...",
		Short: "Check desired-state YAML against the schema and the trusted-launch rules",
		Long: `validate reads every *.yaml and *.yml file below the given paths (hidden and editor
temporary files are skipped), checks each document against the JSON Schema and Azure Local's
trusted-launch rules, and prints every problem of every file, sorted, with file:line:col,
a rule id and what to do. It changes nothing and needs no cluster.

Exit status 1 when there are errors (or warnings, with --warnings-as-errors), else 0.
--format github is chosen automatically when GITHUB_ACTIONS=true.`,
		Example: `  # validate two example folders
  tlreconcile validate -f examples/basic -f examples/avd-pool

  # validate standard input, as JSON for a script
  cat vm.yaml | tlreconcile validate -f - --format json

  # fail CI on warnings too
  tlreconcile validate -f desired/ --warnings-as-errors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("format") && os.Getenv("GITHUB_ACTIONS") == "true" {
				o.format = view.FormatGitHub
			}
			return validateThenRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.filenames, "filename", "f", nil, "file or directory to read, repeatable; - reads standard input")
	f.StringVar(&o.format, "format", view.FormatText, "output format: text, json or github (default github when GITHUB_ACTIONS=true)")
	f.BoolVar(&o.warningsAsErrors, "warnings-as-errors", false, "treat warnings as errors (exit 1)")
	f.Int64Var(&o.maxFileSize, "max-file-size", spec.DefaultMaxFileSize, "largest file read, in bytes")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON, view.FormatGitHub}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	return cmd
}

// Validate checks the flags before any I/O.
func (o *validateOptions) Validate() error {
	errs := []error{
		needInput("validate", o.filenames),
		oneOf("validate", "format", o.format, view.FormatText, view.FormatJSON, view.FormatGitHub),
	}
	if o.maxFileSize <= 0 {
		errs = append(errs, fmt.Errorf("validate: --max-file-size %d must be positive; give a size in bytes such as 4194304", o.maxFileSize))
	}
	return errors.Join(errs...)
}

// Run loads the desired state and prints its diagnostics.
func (o *validateOptions) Run(_ context.Context) error {
	d, diags := spec.Load(spec.LoadOptions{Paths: o.filenames, Stdin: o.root.stdin, MaxFileSize: o.maxFileSize})
	if o.warningsAsErrors {
		diags = diags.WithWarningsAsErrors()
	}
	out := o.root.stdout
	if err := view.Diagnostics(out, o.format, diags, o.root.color(out)); err != nil {
		return fmt.Errorf("validate: write output: %w", err)
	}
	if diags.HasErrors() {
		return errReported
	}
	if o.format == view.FormatText {
		files, clusters, vms := 0, 0, 0
		if d != nil {
			files, clusters, vms = len(d.Files), len(d.Clusters), len(d.VMs)
		}
		fmt.Fprintf(out, "valid: %s, %s, %s\n", count(files, "file"), count(clusters, "cluster"), count(vms, "VM"))
	}
	return nil
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
