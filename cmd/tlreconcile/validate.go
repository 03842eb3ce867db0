package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlreconcile/tlreconcile/internal/gctune"
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
	cpuProfile       string // hidden --cpuprofile FILE, for bench/fleet.sh and issue 16
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
	addCPUProfileFlag(f, &o.cpuProfile)
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
	defer gctune.Start(gctune.Settings{Floor: validateGCFloor, Percent: 100})()
	stopProfile, err := startCPUProfile("validate", o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
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

// validateGCFloor lets validate's runtime grow to 32 MiB before the collector runs
// (about 48 MB peak RSS with the binary itself), then GOGC=100 above that.
// Loading 10,000 VMs allocates ~330 MB of parse trees and schema scratch with
// under 10 MB live: at the default GOGC the collector ran ~55 times and took
// a third of the CPU. Issue 16 allows 60 MB at 10,000 VMs and 250 MB at
// 100,000, where the live heap (~60 MB) is above the floor and the usual
// growth applies. GOGC or GOMEMLIMIT in the environment win.
const validateGCFloor = 32 << 20

// addCPUProfileFlag adds the hidden --cpuprofile FILE of validate and plan:
// a pprof CPU profile of the command, to see where a big fleet's time goes
// (go tool pprof FILE). Hidden: it is for people measuring the tool.
func addCPUProfileFlag(f *pflag.FlagSet, path *string) {
	f.StringVar(path, "cpuprofile", "", "write a CPU profile of this command to FILE (go tool pprof)")
	_ = f.MarkHidden("cpuprofile")
}

// startCPUProfile starts a CPU profile into path when it is set; stop ends
// it and closes the file.
func startCPUProfile(command, path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: --cpuprofile: %w; choose a writable path", command, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: --cpuprofile %s: %w", command, path, err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}
