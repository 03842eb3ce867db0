package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/gctune"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/view"
)

// planOptions are the flags of `tlreconcile plan`.
type planOptions struct {
	root             *rootOptions
	filenames        []string
	format           string
	out              string
	detailedExitcode bool
	targets          []string
	prune            bool
	observedFile     string
	acceptIdentity   []string // --accept-vtpm-identity vm/NAME
	cpuProfile       string   // hidden --cpuprofile FILE (validate.go)
	// now is the clock the plan's planned_at comes from; tests replace it.
	now func() time.Time
}

func newPlanCmd(root *rootOptions) *cobra.Command {
	o := &planOptions{root: root, now: time.Now}
	cmd := &cobra.Command{
		Use:   "plan -f PATH... [flags]",
		Short: "Show what apply would change, and why, without changing anything",
		Long: `plan loads and validates the desired state (validation errors stop it before any cluster
is contacted), observes every cluster the YAML declares (or reads a saved observation with
--observed), and prints the ordered, guarded plan: per resource an action (create, update,
replace, delete) with its steps, the reason for each, and warnings for destructive steps,
VM restarts and blocked steps, then findings such as vTPM state lost.

-out FILE saves the plan for 'tlreconcile apply FILE': a header line with its sha256, then the
plan's JSON with the desired state and options it was built from and a fingerprint of everything
observed (compressed with gzip once it passes 1 MiB, about 150 VMs). apply refuses the file if it
was edited, if anything moved since, or if planning again from what it records gives other steps.

plan reads the apply journal in --state-dir (it takes no lock): after an interrupted apply, the
vTPM identity a planned reset produced is recorded instead of reported lost.

` + acceptVTPMIdentityHelp + `

Exit status 0 when nothing would change, 1 on error, and with --detailed-exitcode 2 when
the plan has changes.`,
		Example: `  # what would change for the example cluster (sim driver)
  tlreconcile plan -f examples/basic

  # save the plan for review, then apply exactly that plan
  tlreconcile plan -f desired/ -out plan.json
  tlreconcile apply plan.json

  # pull request comment: Markdown, exit 2 when something would change
  tlreconcile plan -f desired/ --format markdown --detailed-exitcode > plan.md

  # plan without cluster access, against an observation saved earlier
  tlreconcile show -f desired/ --format json > observed.json
  tlreconcile plan -f desired/ --observed observed.json

  # one VM only; --prune plans its delete if it is managed and no longer declared
  tlreconcile plan -f desired/ --target vm/avd-01 --prune

  # vm/avd-01 lost its vTPM state and BitLocker was recovered with its recovery keys:
  # plan recording its new vTPM identity
  tlreconcile plan -f desired/ --accept-vtpm-identity vm/avd-01 -out plan.json`,
		// Flags are parsed here, not by cobra, so that terraform's spelling
		// "-out FILE" works beside "--out FILE" (pflag reads "-out" as -o -u -t).
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.InheritedFlags() // merges --state-dir and --no-color into cmd.Flags()
			if err := cmd.Flags().Parse(terraformStyleOut(args)); err != nil {
				if errors.Is(err, pflag.ErrHelp) {
					return cmd.Help()
				}
				return fmt.Errorf("plan: %w; see tlreconcile plan --help", err)
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			if rest := cmd.Flags().Args(); len(rest) > 0 {
				return fmt.Errorf("plan: unexpected argument %q; pass files with -f PATH", rest[0])
			}
			return validateThenRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.filenames, "filename", "f", nil, "file or directory to read, repeatable; - reads standard input")
	f.StringVar(&o.format, "format", view.FormatText, "output format: text, json or markdown")
	f.StringVar(&o.out, "out", "", "also save the plan to this file, for 'tlreconcile apply FILE' (-out FILE works too)")
	f.BoolVar(&o.detailedExitcode, "detailed-exitcode", false, "exit 2 when the plan has changes (0: none, 1: error)")
	f.StringArrayVar(&o.targets, "target", nil, "plan only this resource (vm/NAME or node/NAME), repeatable")
	f.BoolVar(&o.prune, "prune", false, "plan deletes of VMs tlreconcile manages that the YAML no longer declares")
	f.StringVar(&o.observedFile, "observed", "", "plan against this saved observation ('tlreconcile show --format json') instead of observing the clusters")
	f.StringArrayVar(&o.acceptIdentity, "accept-vtpm-identity", nil, acceptVTPMIdentityFlag)
	addCPUProfileFlag(f, &o.cpuProfile)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON, view.FormatMarkdown}, cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = completeFlagsWithoutParsing // DisableFlagParsing: cobra completes no flag values itself
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
	_ = cmd.MarkFlagFilename("observed", "json")
	return cmd
}

// terraformStyleOut rewrites "-out" and "-out=FILE" to their double-dash form.
func terraformStyleOut(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if a == "-out" || strings.HasPrefix(a, "-out=") {
			out[i] = "-" + a
		}
	}
	return out
}

// Validate checks the flags before any I/O.
func (o *planOptions) Validate() error {
	errs := []error{
		needInput("plan", o.filenames),
		oneOf("plan", "format", o.format, view.FormatText, view.FormatJSON, view.FormatMarkdown),
	}
	errs = append(errs, checkTargets("plan", o.targets))
	errs = append(errs, checkAcceptVTPMIdentity("plan", o.acceptIdentity))
	if o.out != "" && o.out == o.observedFile {
		errs = append(errs, fmt.Errorf("plan: -out %s would overwrite the --observed file; choose another name", o.out))
	}
	return errors.Join(errs...)
}

// Run loads, observes, plans, saves and renders.
func (o *planOptions) Run(ctx context.Context) error {
	defer gctune.Start(gctune.Settings{Floor: planGCFloor, Percent: 100})()
	stopProfile, err := startCPUProfile("plan", o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	out, errw := o.root.stdout, o.root.stderr
	// A saved observation (--observed) does not depend on the YAML: it is read
	// while the YAML loads (10,000 VMs: ~0.15 s of JSON that would otherwise
	// wait for the load).
	snapshot := readObservedAsync(o.observedFile)
	desired, err := loadDesired(o.root, "plan", o.filenames)
	if err != nil {
		return err
	}
	accept, err := resolveVTPMAcceptances("plan", desired, o.acceptIdentity)
	if err != nil {
		return err
	}
	s, err := o.root.openSession(ctx, true, 0)
	if err != nil {
		return err
	}
	defer o.root.closeSession(s)
	var observed map[string]*drivers.Observed
	if snapshot != nil {
		r := <-snapshot
		observed, err = r.observed, r.err
	} else {
		observed, err = s.Observe(ctx, clusterRefs(desired))
	}
	if err != nil {
		return err
	}
	accept.report(errw, observed)
	// The journal's acceptances join the operator's, so that a plan made
	// after an interrupted apply records the identities it produced.
	p, err := plan.Build(desired, observed, s.PlanOptions(plan.Options{Prune: o.prune, Targets: o.targets, Accept: plan.Acceptances{}.WithOperator(accept.keys()...)}))
	if err != nil {
		return err
	}
	p.PlannedAt = o.now().UTC()
	p.ObservedFile = o.observedFile
	if o.out != "" {
		if err := writeFileAtomic(o.out, func(f *os.File) error { return plan.Save(f, p) }); err != nil {
			return fmt.Errorf("plan: save %s: %w; check that its directory exists and is writable", o.out, err)
		}
	}
	if err := view.Plan(out, o.format, p, o.root.color(out)); err != nil {
		return fmt.Errorf("plan: write output: %w", err)
	}
	if o.out != "" {
		fmt.Fprintf(errw, "Saved the plan to %s; apply exactly this plan with: tlreconcile apply %s\n", o.out, o.out)
	}
	if o.detailedExitcode && p.HasChanges() {
		return errChanges
	}
	return nil
}

// planGCFloor is validateGCFloor for plan, whose live heap is bigger (the desired
// state, the observation and the plan of every VM stay until it is saved):
// 64 MiB before the collector runs, GOGC=100 above. Issue 16 allows 150 MB
// at 10,000 VMs.
const planGCFloor = 64 << 20

// observedRead is readObservedFile's answer.
type observedRead struct {
	observed map[string]*drivers.Observed
	err      error
}

// readObservedAsync reads path on another goroutine; nil when path is "".
func readObservedAsync(path string) <-chan observedRead {
	if path == "" {
		return nil
	}
	c := make(chan observedRead, 1)
	go func() {
		obs, err := readObservedFile(path)
		c <- observedRead{obs, err}
	}()
	return c
}

func readObservedFile(path string) (map[string]*drivers.Observed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plan: --observed: %w; write the file with tlreconcile show --format json", err)
	}
	defer f.Close()
	obs, _, err := plan.ReadObserved(f)
	if err != nil {
		return nil, fmt.Errorf("plan: --observed %s: %w", path, err)
	}
	return obs, nil
}

// writeFileAtomic writes path through a temporary file in the same directory,
// so a reader never sees half a plan.
func writeFileAtomic(path string, write func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
