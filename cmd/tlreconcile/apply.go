package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// applyOptions are the flags of `tlreconcile apply`.
type applyOptions struct {
	root             *rootOptions
	filenames        []string
	planFile         string // positional: apply exactly this saved plan
	autoApprove      bool
	allowDestructive bool
	allowForceStop   bool // stop-vm may turn off a guest that does not shut down
	parallelism      int
	targets          []string
	prune            bool
	acceptIdentity   []string // --accept-vtpm-identity vm/NAME
	lockTimeout      time.Duration
	format           string
	progress         string // --progress: auto, always or never
	retry            apply.Retry
	// isTerminal says whether r is an interactive terminal; tests replace it.
	isTerminal func(r io.Reader) bool
	// outIsTerminal says whether w is a terminal, for --progress auto; tests replace it.
	outIsTerminal func(w io.Writer) bool
}

// --progress values: the live progress bar of the text view.
const (
	progressAuto   = "auto"   // on a terminal only
	progressAlways = "always" // even into a pipe or file
	progressNever  = "never"
)

// applyLong is apply's help text.
const applyLong = `apply -f PATH loads and validates the desired state, observes the clusters, shows the plan
and asks for "yes" on a terminal (without a terminal it refuses unless --auto-approve).
apply PLANFILE applies exactly a plan saved with 'tlreconcile plan -out PLANFILE', or nothing:
it refuses the file when its bytes do not match the digest in its first line (it was edited),
when anything it observed has moved since, or when planning again from the desired state and
options it records does not give the same steps, and says what differs.

Cluster and node steps run first; then each VM's steps run in order, up to --parallelism VMs
at once. Transient driver errors are retried with backoff. Every VM is re-observed after its
steps and must match the plan; a VM the plan stopped is started again when a later step
fails (unless a failed key-protector or TPM step makes that unsafe: then it says so).
Destructive steps (vTPM disable, key-protector reset, replace, delete) need
--allow-destructive. An exclusive lock and a journal under --state-dir make two applies
exclusive and an interrupted apply resumable: run the same command again.

On a terminal the text view keeps a progress bar below the event lines (steps done, running,
failed, elapsed time) and removes it before the results; --progress never turns it off,
--progress always draws it into a pipe too. Colour follows --no-color and NO_COLOR; the bar does not.

` + acceptVTPMIdentityHelp + `

The first Ctrl-C (SIGINT) or SIGTERM cancels the approval question at once; during the run it
starts no new step, prints what it waits for, lets running steps finish (a VM whose vTPM reset
began also gets its set-secure-boot and start-vm: stopping in between leaves it Off) and restores
power as the plan says. A second one aborts at once. With --format json every stdout line is a
JSON event, also when nothing changes (a run-started and run-finished pair).

Exit status 0 when everything succeeded (or nothing had to change); 1 when anything failed
or was blocked (a blocked change means the clusters still differ from the YAML), when the run
was interrupted, or when a VM was left Off (stderr names it and says why); 128+signal after a
second interrupt.`

func newApplyCmd(root *rootOptions) *cobra.Command {
	o := &applyOptions{root: root, isTerminal: readerIsTerminal, outIsTerminal: writerIsTerminal}
	cmd := &cobra.Command{
		Use:   "apply (-f PATH... | PLANFILE)",
		Short: "Change the clusters to match the desired state, safely",
		Long:  applyLong,
		Example: `  # plan, review and apply the desired state interactively
  tlreconcile apply -f examples/avd-pool

  # CI: apply without asking, JSON events for the log
  tlreconcile apply -f desired/ --auto-approve --format json

  # on a terminal, event lines without the live progress bar
  tlreconcile apply -f desired/ --progress never

  # apply exactly the plan that was reviewed
  tlreconcile plan -f desired/ -out plan.json
  tlreconcile apply plan.json

  # allow a planned vTPM reset, one VM only
  tlreconcile apply -f desired/ --target vm/avd-01 --allow-destructive

  # vm/avd-01 lost its vTPM state in a failover; BitLocker was unlocked with its
  # recovery keys: record the new vTPM identity so the vtpm-state-lost finding ends
  tlreconcile apply -f desired/ --accept-vtpm-identity vm/avd-01`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.planFile = args[0]
			}
			return validateThenRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.filenames, "filename", "f", nil, "file or directory of desired state, repeatable; - reads standard input")
	f.BoolVar(&o.autoApprove, "auto-approve", false, "apply without asking for yes (needed without a terminal)")
	f.BoolVar(&o.allowForceStop, "allow-force-stop", false, "let a stop-vm whose guest does not shut down in time turn the VM off (power pulled: unsaved guest data, such as a running update, is lost); without it such a stop fails and the VM keeps running")
	f.BoolVar(&o.allowDestructive, "allow-destructive", false, "let destructive steps run: vTPM disable, key-protector reset, replace, delete (vTPM secrets such as BitLocker keys are lost)")
	f.IntVar(&o.parallelism, "parallelism", apply.DefaultParallelism, "how many VMs to change at once")
	f.StringArrayVar(&o.targets, "target", nil, "only this resource (vm/NAME or node/NAME), repeatable")
	f.BoolVar(&o.prune, "prune", false, "delete managed VMs that are no longer declared")
	f.StringArrayVar(&o.acceptIdentity, "accept-vtpm-identity", nil, acceptVTPMIdentityFlag)
	f.DurationVar(&o.lockTimeout, "lock-timeout", 0, "how long to wait for another apply on the same state dir to finish")
	f.StringVar(&o.format, "format", view.FormatText, "event output: text (progress lines) or json (one object per line)")
	f.StringVar(&o.progress, "progress", progressAuto, "live progress bar under the text events: auto (on a terminal), always or never")
	f.IntVar(&o.retry.Attempts, "retry-attempts", 5, "attempts per step for transient driver errors, including the first")
	f.DurationVar(&o.retry.Base, "retry-base", 200*time.Millisecond, "first retry delay; doubles per attempt, with jitter")
	f.DurationVar(&o.retry.Max, "retry-max", 5*time.Second, "ceiling of one retry delay")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{progressAuto, progressAlways, progressNever}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	return cmd
}

// Validate checks flag combinations before any I/O.
func (o *applyOptions) Validate() error {
	var errs []error
	switch {
	case o.planFile == "" && len(o.filenames) == 0:
		errs = append(errs, errors.New("apply: nothing to apply; pass the desired state with -f PATH, or a saved plan file"))
	case o.planFile != "" && len(o.filenames) > 0:
		errs = append(errs, errors.New("apply: give -f PATH or a saved plan file, not both"))
	case o.planFile != "" && (len(o.targets) > 0 || o.prune || len(o.acceptIdentity) > 0):
		errs = append(errs, errors.New("apply: --target, --prune and --accept-vtpm-identity shape a new plan; pass them to `tlreconcile plan` when saving the plan file"))
	}
	errs = append(errs, checkAcceptVTPMIdentity("apply", o.acceptIdentity))
	if slices.Contains(o.filenames, "-") && !o.autoApprove {
		errs = append(errs, errors.New("apply: -f - reads the desired state from standard input, which then cannot answer the approval question: add --auto-approve, or save the plan with `tlreconcile plan -f - -out FILE` and run `tlreconcile apply FILE`"))
	}
	if err := oneOf("apply", "format", o.format, view.FormatText, view.FormatJSON); err != nil {
		errs = append(errs, err)
	}
	if err := oneOf("apply", "progress", o.progress, progressAuto, progressAlways, progressNever); err != nil {
		errs = append(errs, err)
	} else if o.progress == progressAlways && o.format == view.FormatJSON {
		errs = append(errs, errors.New("apply: --progress always draws a bar in the text view, and --format json writes only JSON lines: drop --progress, or use --format text"))
	}
	if o.parallelism < 1 {
		errs = append(errs, fmt.Errorf("apply: --parallelism %d must be 1 or more", o.parallelism))
	}
	if o.lockTimeout < 0 {
		errs = append(errs, fmt.Errorf("apply: --lock-timeout %s must not be negative", o.lockTimeout))
	}
	if o.retry.Attempts < 1 {
		errs = append(errs, fmt.Errorf("apply: --retry-attempts %d must be 1 or more", o.retry.Attempts))
	}
	errs = append(errs, checkTargets("apply", o.targets))
	if err := (apply.Options{Parallelism: o.parallelism, Retry: o.retry}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("apply: %w", err))
	}
	return errors.Join(errs...)
}

// Run opens the session (lock, journal, drivers), builds or reads the plan,
// asks, applies on the drivers that observed and renders.
func (o *applyOptions) Run(ctx context.Context) error {
	s, err := o.root.openSession(ctx, false, o.lockTimeout)
	if err != nil {
		return err
	}
	defer o.root.closeSession(s)
	var p *plan.Plan
	if o.planFile != "" {
		p, err = o.savedPlan(ctx, s)
	} else {
		p, err = o.newPlan(ctx, s)
	}
	if err != nil || p == nil {
		return err
	}
	if err := s.Check(p, o.allowDestructive); err != nil {
		return err
	}
	if !p.HasChanges() {
		// --format json: every stdout line is a JSON event, this run's too.
		var opts apply.Options
		if o.format == view.FormatJSON {
			opts.Events = o.events()
		} else {
			fmt.Fprintln(o.root.stdout, apply.NoChangesMessage)
		}
		_, err := s.Apply(ctx, p, opts)
		return err
	}
	if o.planFile == "" && !o.autoApprove {
		if err := o.approve(ctx); err != nil {
			return err
		}
	}
	rep, err := s.Apply(ctx, p, apply.Options{
		Parallelism: o.parallelism, AllowDestructive: o.allowDestructive, AllowForceStop: o.allowForceStop, Retry: o.retry, Events: o.events(),
	})
	if err != nil {
		return runFailed(rep, err)
	}
	if rep.Counts.Blocked > 0 {
		// Nothing failed, but the clusters do not match the YAML: CI must not go green.
		return fmt.Errorf("apply: %d change(s) blocked, nothing was done for them; fix what each blocked step names (above) and apply again", rep.Counts.Blocked)
	}
	return nil
}

// runFailed is the error of a run that did not fully succeed: the report was
// rendered by the run-finished event, so only a VM left Off is said again,
// last, where it cannot be missed.
func runFailed(rep *apply.Report, err error) error {
	if rep == nil {
		return err
	}
	var re *apply.RunError
	if errors.As(err, &re) && len(re.LeftOff) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("apply: %d VM(s) left Off: %s", len(re.LeftOff), strings.Join(re.LeftOff, "; "))}
	}
	return errReported
}

// events is the event view --format and --progress choose. The interrupt
// notice (what the run still waits for) goes to stderr too, as a sentence,
// where a person at the terminal sees it whatever the format.
func (o *applyOptions) events() func(apply.Event) {
	out := o.root.stdout
	var sink func(apply.Event)
	if o.format != view.FormatText {
		sink = view.EventsJSON(out)
	} else {
		live := o.progress == progressAlways || (o.progress == progressAuto && o.outIsTerminal(out))
		sink = view.EventsTextWith(out, view.EventsTextOptions{Color: o.root.color(out), Live: live, Width: terminalWidth(out)})
	}
	return func(e apply.Event) {
		if e.Kind != apply.EventInterrupted {
			sink(e)
			return
		}
		fmt.Fprintf(o.root.stderr, "\nApply %s\n", e.Message)
		if o.format != view.FormatText {
			sink(e)
		}
	}
}

// newPlan loads, observes and plans; it prints the plan (to stderr with
// --format json). The operator's --accept-vtpm-identity joins the
// acceptances of an interrupted run's journal, and lifts the journal's
// narrowing to one identity for the VMs it names.
func (o *applyOptions) newPlan(ctx context.Context, s *apply.Session) (*plan.Plan, error) {
	desired, err := loadDesired(o.root, "apply", o.filenames)
	if err != nil {
		return nil, err
	}
	accept, err := resolveVTPMAcceptances("apply", desired, o.acceptIdentity)
	if err != nil {
		return nil, err
	}
	observed, err := s.Observe(ctx, clusterRefs(desired))
	if err != nil {
		return nil, err
	}
	accept.report(o.root.stderr, observed)
	p, err := plan.Build(desired, observed, s.PlanOptions(plan.Options{
		Prune: o.prune, Targets: o.targets, AllowDestructive: o.allowDestructive,
		Accept: plan.Acceptances{}.WithOperator(accept.keys()...),
	}))
	if err != nil {
		return nil, err
	}
	w := o.root.stdout
	if o.format == view.FormatJSON {
		w = o.root.stderr
	}
	if p.HasChanges() || len(p.Findings) > 0 {
		if err := view.PlanText(w, p, o.root.color(w)); err != nil {
			return nil, fmt.Errorf("apply: write plan: %w", err)
		}
	}
	return p, nil
}

// savedPlan reads a plan file and refuses it when what it used has moved.
func (o *applyOptions) savedPlan(ctx context.Context, s *apply.Session) (*plan.Plan, error) {
	if fi, err := os.Stat(o.planFile); err == nil && (fi.IsDir() || isYAMLName(o.planFile)) {
		return nil, fmt.Errorf("plan file %s: this is desired-state YAML, not a plan file; apply YAML with `tlreconcile apply -f %s`, or save a plan with `tlreconcile plan -f %s -out plan.json` and apply that", o.planFile, o.planFile, o.planFile)
	}
	f, err := os.Open(o.planFile)
	if err != nil {
		return nil, fmt.Errorf("plan file %s: %w", o.planFile, err)
	}
	p, err := plan.Read(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w (nothing was applied)", o.planFile, err)
	}
	observed, err := s.Observe(ctx, p.Clusters)
	if err != nil {
		return nil, err
	}
	if moved := plan.Stale(p, observed); len(moved) > 0 {
		return nil, fmt.Errorf("plan file %s is stale: the clusters changed since it was made, nothing was applied:\n  %s\nmake the plan again with the same -f paths (or --observed file) and options: `tlreconcile plan -f PATH -out %s`, review it, and apply the new plan",
			o.planFile, strings.Join(moved, "\n  "), o.planFile)
	}
	if err := plan.Replan(p, observed); err != nil {
		return nil, fmt.Errorf("plan file %s: %w\nnothing was applied: the file is not the plan tlreconcile made; make the plan again with `tlreconcile plan -f PATH -out %s`, review it, and apply the new plan", o.planFile, err, o.planFile)
	}
	return p, nil
}

// approve asks for "yes" on a terminal; without one it refuses. An interrupt
// (Ctrl-C) while it waits cancels at once: the read goes on in the
// background, and the process exits without using it.
func (o *applyOptions) approve(ctx context.Context) error {
	if !o.isTerminal(o.root.stdin) {
		return errors.New("apply: no terminal to ask for approval, nothing was applied: re-run with --auto-approve, or save the plan with `tlreconcile plan -out FILE` and run `tlreconcile apply FILE`")
	}
	fmt.Fprint(o.root.stderr, "\nDo you want to apply this plan? Only 'yes' is accepted: ")
	type answer struct {
		line string
		err  error
	}
	read := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(o.root.stdin).ReadString('\n')
		read <- answer{line, err}
	}()
	var a answer
	select {
	case a = <-read:
	case <-ctx.Done():
		fmt.Fprintln(o.root.stderr, "\nApply cancelled: nothing was changed.")
		return errReported
	}
	if a.err != nil && a.line == "" {
		return fmt.Errorf("apply: reading the answer: %w; nothing was applied", a.err)
	}
	if strings.TrimSpace(a.line) != "yes" || ctx.Err() != nil {
		fmt.Fprintln(o.root.stderr, "Apply cancelled: nothing was changed.")
		return errReported
	}
	return nil
}

func readerIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writerIsTerminal says whether w is a terminal, where a bar redrawn in place
// makes sense; a pipe, a file or /dev/null gets plain lines.
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is w's width in columns, 0 when w is not a terminal.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// commandLine is recorded in the lock file for whoever finds it held.
func commandLine() string {
	args := append([]string{"tlreconcile"}, os.Args[1:]...)
	return strings.Join(args, " ")
}

// isYAMLName reports whether path is named like desired-state YAML.
func isYAMLName(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".yaml" || ext == ".yml"
}
