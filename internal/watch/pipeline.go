package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Pipeline is the real LoadFunc and ReconcileFunc: spec.Load over the tree's
// files, then plan.ObserveAll, plan.Build and, in mode correct, apply.Run under
// apply's lock and journal in the state dir. It decides nothing itself.
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

// Load reads every desired-state file under root (see Files) in one spec.Load.
func (p *Pipeline) Load(_ context.Context, root string) Input {
	files, err := Files(root)
	if err != nil {
		return Input{Err: fmt.Errorf("read %s: %w", root, err)}
	}
	if len(files) == 0 {
		// Nothing declared: valid, and nothing to observe; never a prune of
		// anything, because no cluster is named.
		return Input{Desired: &spec.Desired{}, Files: []string{}}
	}
	d, diags := spec.Load(spec.LoadOptions{Paths: files})
	in := Input{Desired: d, Diagnostics: diags, Files: files}
	if diags.HasErrors() {
		in.Desired = nil // never act on a partial desired state
	}
	return in
}

// Reconcile observes, plans and (mode correct) applies d. ctx ends at shutdown:
// apply then starts no new step and lets the running one finish.
func (p *Pipeline) Reconcile(ctx context.Context, d *spec.Desired, _ Trigger) (RunResult, error) {
	var res RunResult
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refs := make([]drivers.ClusterRef, 0, len(d.Clusters))
	for _, c := range d.Clusters {
		refs = append(refs, plan.ClusterRef(c))
	}
	var (
		accepted   map[string]bool
		acceptedID map[string]string
	)
	if p.Mode == ModeCorrect {
		lock, err := apply.AcquireLock(ctx, p.Config.StateDir, apply.LockOptions{
			Timeout: p.LockTimeout, Command: "tlreconcile watch",
			Notify: func(s string) { log.Info(s) },
		})
		if err != nil {
			return res, err
		}
		defer func() {
			if err := lock.Release(); err != nil {
				log.Warn("release the apply lock", "err", err)
			}
		}()
		entries, err := apply.ReadJournalFile(p.Config.StateDir)
		if err != nil {
			return res, fmt.Errorf("%w (journal in %s)", err, p.Config.StateDir)
		}
		if len(entries) > 0 {
			log.Info("resuming an interrupted apply: re-observing and planning from what is there now", "journal_entries", len(entries))
		}
		accepted = apply.AcceptedIdentityChanges(entries)
		acceptedID = apply.AcceptedIdentities(entries)
	}
	observed, err := plan.ObserveAll(ctx, p.Registry, p.Config, refs)
	if err != nil {
		return res, err
	}
	res.Observed = true
	pl, err := plan.Build(d, observed, plan.Options{Prune: p.Prune, AllowDestructive: p.AllowDestructive, BlockDestructive: !p.AllowDestructive, AcceptedIdentityChanges: accepted, AcceptedIdentities: acceptedID})
	if err != nil {
		return res, err
	}
	res.Summary, res.Findings = pl.Summary, pl.Findings
	for _, c := range pl.Changes {
		if c.Action == plan.ActionNoop {
			continue
		}
		cs := ChangeSummary{Resource: c.Resource, Cluster: c.Cluster, Action: c.Action}
		for _, s := range c.Steps {
			if s.Blocked != nil {
				cs.Blocked = true
			}
		}
		res.Changes = append(res.Changes, cs)
	}
	if p.Mode != ModeCorrect {
		return res, nil
	}
	if len(res.Changes) == 0 {
		return res, p.clearJournal()
	}
	if err := apply.Check(pl, p.AllowDestructive); err != nil {
		return res, err
	}
	drvs, closeAll, err := p.open(pl.Clusters)
	if err != nil {
		return res, err
	}
	defer closeAll()
	journal, err := apply.OpenJournal(p.Config.StateDir)
	if err != nil {
		return res, err
	}
	defer journal.Close()
	byName := map[string]drivers.ClusterRef{}
	for _, r := range pl.Clusters {
		byName[r.Name] = r
	}
	res.Applied = true
	rep, err := apply.Run(ctx, pl, drvs, apply.Options{
		Parallelism: p.Parallelism, AllowDestructive: p.AllowDestructive, Retry: p.Retry,
		Events: p.Events, Refs: byName, Journal: journal,
	})
	if rep != nil {
		for _, r := range rep.Resources {
			for _, s := range r.Steps {
				res.Steps = append(res.Steps, StepOutcome{Op: s.Op, Result: string(s.Status)})
			}
		}
	}
	if err != nil {
		return res, err
	}
	if rep != nil && rep.Failed() {
		return res, errors.New("apply: some changes failed; see the step events")
	}
	return res, p.clearJournal()
}

// clearJournal empties the journal once the clusters match: nothing to resume.
func (p *Pipeline) clearJournal() error { return apply.ClearJournal(p.Config.StateDir) }

// open opens one driver per driver name and maps every cluster to it.
func (p *Pipeline) open(refs []drivers.ClusterRef) (map[string]drivers.Driver, func(), error) {
	return p.Registry.OpenAll(p.Config, refs)
}
