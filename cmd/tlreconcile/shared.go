package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// This file holds the steps the subcommands share, one copy each, so that
// plan, show, apply, watch and sim cannot drift apart in how they check flags,
// load the desired state, observe clusters or open drivers.

// runner is a subcommand's options: Validate checks the flags without any I/O,
// Run does the work.
type runner interface {
	Validate() error
	Run(context.Context) error
}

// validateThenRun is the only way a subcommand runs, so a bad flag combination
// never reaches a file or a cluster.
func validateThenRun(ctx context.Context, o runner) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(ctx)
}

// runE is validateThenRun as a cobra RunE, for commands whose arguments are
// all flags.
func runE(o runner) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		return validateThenRun(cmd.Context(), o)
	}
}

// loadDesired loads and validates the YAML under paths and prints its
// diagnostics to stderr. It returns errReported when there are errors: then
// nothing may be observed, let alone changed.
func loadDesired(root *rootOptions, command string, paths []string) (*spec.Desired, error) {
	d, diags := spec.Load(spec.LoadOptions{Paths: paths, Stdin: root.stdin})
	if len(diags) > 0 {
		if err := view.Diagnostics(root.stderr, view.FormatText, diags, root.color(root.stderr)); err != nil {
			return nil, fmt.Errorf("%s: write diagnostics: %w", command, err)
		}
	}
	if diags.HasErrors() || d == nil {
		return nil, errReported
	}
	return d, nil
}

// clusterRefs returns the driver reference of every cluster d declares, in
// declared order.
func clusterRefs(d *spec.Desired) []drivers.ClusterRef {
	refs := make([]drivers.ClusterRef, 0, len(d.Clusters))
	for _, c := range d.Clusters {
		refs = append(refs, plan.ClusterRef(c))
	}
	return refs
}

// driverConfig is what every driver this binary opens is configured with.
func (o *rootOptions) driverConfig() drivers.Config {
	return drivers.Config{StateDir: o.stateDir}
}

// openSession opens the reconcile session every command that touches
// clusters runs (apply.Session): read-only for plan and show (no lock), with
// the state dir's lock for apply. It tells the user when the journal holds an
// interrupted run.
func (o *rootOptions) openSession(ctx context.Context, readOnly bool, lockTimeout time.Duration) (*apply.Session, error) {
	notify := func(s string) { fmt.Fprintln(o.stderr, s) }
	s, err := apply.Open(ctx, apply.SessionOptions{
		Registry: o.registry(), Config: o.driverConfig(), ReadOnly: readOnly,
		LockTimeout: lockTimeout, Command: commandLine(), Notify: notify,
	})
	if err != nil {
		return nil, err
	}
	if msg := s.Resuming(); msg != "" {
		notify(msg)
	}
	return s, nil
}

// closeSession closes s and reports a lock that could not be released.
func (o *rootOptions) closeSession(s *apply.Session) {
	if err := s.Close(); err != nil {
		fmt.Fprintln(o.stderr, err)
	}
}

// needInput is the error of a command that reads desired state but was given none.
func needInput(command string, filenames []string) error {
	if len(filenames) > 0 {
		return nil
	}
	return fmt.Errorf("%s: no input; pass files or directories with -f PATH (or -f - for standard input)", command)
}

// oneOf checks a flag whose value must be one of allowed, and names them all when it is not.
func oneOf(command, flag, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	list := allowed[len(allowed)-1]
	if len(allowed) > 1 {
		list = strings.Join(allowed[:len(allowed)-1], ", ") + " or " + list
	}
	return fmt.Errorf("%s: --%s %q is unknown; use %s", command, flag, value, list)
}

// checkTargets checks --target values: vm/NAME or node/NAME, as plan.Options.Targets takes them.
func checkTargets(command string, targets []string) error {
	var errs []error
	for _, t := range targets {
		name, ok := strings.CutPrefix(t, "vm/")
		if !ok {
			name, ok = strings.CutPrefix(t, "node/")
		}
		if !ok || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("%s: --target %q: write vm/NAME or node/NAME", command, t))
		}
	}
	return errors.Join(errs...)
}
