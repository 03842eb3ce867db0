package watch

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Pipeline is the real LoadFunc and ReconcileFunc: spec.Load over the tree's
// files, then one apply.Session: observe, plan.Build and, in mode correct,
// apply on the same drivers under the state dir's lock and journal. It decides
// nothing itself.
type Pipeline struct {
	Registry *drivers.Registry
	Config   drivers.Config // the state dir: sim clusters, the apply lock and journal
	Mode     Mode
	// Prune lets a VM whose document vanished be deleted (planner Prune); without
	// it a removed file never deletes anything.
	Prune bool
	// AllowDestructive lets destructive steps run. Without it the planner blocks
	// each destructive change (plan.Options.BlockDestructive) and the rest of the
	// plan still runs: one VM that needs a vTPM reset must not stop the daemon
	// from reconciling every other VM. (`tlreconcile apply`, run by a person or
	// CI, refuses such a plan whole instead, naming the steps.)
	AllowDestructive bool
	Parallelism      int
	Retry            apply.Retry
	// LockTimeout is how long a run waits for another apply holding the state
	// dir's lock before it fails (and is retried later).
	LockTimeout time.Duration
	// Events receives apply's event stream (nil: discarded).
	Events func(apply.Event)
	Logger *slog.Logger // nil: discard
}

// Load reads the tree under root with spec.Load, exactly as `validate -f root`
// does (the same walker, symlink rule and diagnostics, a folder without YAML
// included); Files lists what it read.
func (p *Pipeline) Load(_ context.Context, root string) Input {
	files, _ := spec.Files(root) // Load reports the same diagnostics
	d, diags := spec.Load(spec.LoadOptions{Paths: []string{root}})
	in := Input{Desired: d, Diagnostics: diags, Files: files}
	if diags.HasErrors() || d == nil {
		in.Desired = nil // never act on a partial desired state
	}
	return in
}

// Reconcile observes, plans and (mode correct) applies d in one
// apply.Session: the drivers that observed are the ones that apply. ctx ends
// at shutdown: apply then starts no new step and lets the running one finish.
func (p *Pipeline) Reconcile(ctx context.Context, d *spec.Desired, _ Trigger) (RunResult, error) {
	var res RunResult
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := apply.Open(ctx, apply.SessionOptions{
		Registry: p.Registry, Config: p.Config, ReadOnly: p.Mode != ModeCorrect,
		LockTimeout: p.LockTimeout, Command: "tlreconcile watch", Notify: func(m string) { log.Info(m) },
	})
	if err != nil {
		return res, err
	}
	defer func() {
		if err := s.Close(); err != nil {
			log.Warn("close the reconcile session", "err", err)
		}
	}()
	if msg := s.Resuming(); msg != "" && p.Mode == ModeCorrect {
		log.Info(msg, "journal_entries", len(s.Journal()))
	}
	refs := make([]drivers.ClusterRef, 0, len(d.Clusters))
	for _, c := range d.Clusters {
		refs = append(refs, plan.ClusterRef(c))
	}
	observed, err := s.Observe(ctx, refs)
	if err != nil {
		return res, err
	}
	res.Observed = true
	res.Attestations = attestations(observed)
	// Detect mode reads the journal too: a reset an interrupted apply
	// carried out is not reported as a loss there either.
	pl, err := plan.Build(d, observed, s.PlanOptions(plan.Options{Prune: p.Prune, AllowDestructive: p.AllowDestructive,
		BlockDestructive: !p.AllowDestructive}))
	if err != nil {
		return res, err
	}
	res.summarize(pl)
	if p.Mode != ModeCorrect {
		return res, nil
	}
	if err := apply.Check(pl, p.AllowDestructive); err != nil {
		return res, err
	}
	res.Applied = pl.HasChanges()
	rep, err := s.Apply(ctx, pl, apply.Options{Parallelism: p.Parallelism, AllowDestructive: p.AllowDestructive, Retry: p.Retry, Events: p.Events})
	res.record(rep)
	if err != nil {
		return res, err
	}
	if rep.Failed() {
		return res, errors.New("apply: some changes failed; see the step events")
	}
	return res, nil
}

// summarize takes the plan's summary, findings and changes into the result.
func (res *RunResult) summarize(pl *plan.Plan) {
	res.Summary, res.Findings = pl.Summary, pl.Findings
	for _, c := range pl.Changes {
		if c.Action == plan.ActionNoop {
			continue
		}
		_, blocked := c.Blocker()
		res.Changes = append(res.Changes, ChangeSummary{Resource: c.Resource, Cluster: c.Cluster, Action: c.Action, Blocked: blocked != nil})
	}
}

// record takes what apply did into the result.
func (res *RunResult) record(rep *apply.Report) {
	if rep == nil {
		return
	}
	for _, r := range rep.Resources {
		// LeftOff covers both a VM the plan kept Off on purpose ("left Off:
		// ...") and one whose start-again failed ("could not be started
		// again"); the second was missed when only the text was read.
		if r.LeftOff || strings.HasPrefix(r.Power, "left Off") {
			res.LeftOff = append(res.LeftOff, LeftOff{Resource: r.Resource, Cluster: r.Cluster, Power: r.Power})
		}
		for _, s := range r.Steps {
			res.Steps = append(res.Steps, StepOutcome{Op: s.Op, Result: string(s.Status)})
		}
	}
}

// attestations counts the managed VMs of observed by the result of their
// last attestation.
func attestations(observed map[string]*drivers.Observed) map[string]int {
	out := map[string]int{drivers.AttestVerified: 0, drivers.AttestFailed: 0, drivers.AttestUnavailable: 0}
	for _, o := range observed {
		for _, v := range o.VMs {
			if v.Annotations != nil && v.Attestation != nil {
				out[v.Attestation.Result]++
			}
		}
	}
	return out
}
