package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// SessionOptions configure Open.
type SessionOptions struct {
	Registry *drivers.Registry
	Config   drivers.Config // the state dir: sim clusters, the lock and the journal
	// ReadOnly sessions (plan, show, watch in mode detect) take no lock and
	// may not Apply; they still read the journal, so that a plan made after
	// an interrupted apply accepts the identities that apply journaled.
	ReadOnly bool
	// LockTimeout is how long Open waits for another holder of the lock.
	LockTimeout time.Duration
	// Command is recorded in the lock for whoever finds it held.
	Command string
	// Notify receives progress sentences meant for a person (nil: dropped).
	Notify func(string)
}

// Session is one reconcile session, the one sequence every frontend runs
// (plan, apply from YAML or from a plan file, show, watch): it takes the
// lock, reads the journal and its acceptances, opens each driver once,
// observes, and applies on the same driver instances; Close closes the
// drivers and releases the lock. A second copy of this sequence is how the
// first version's hyperv driver came to fail in one frontend and not in the
// others.
type Session struct {
	opts    SessionOptions
	lock    *Lock
	entries []Entry

	mu      sync.Mutex
	byName  map[string]drivers.Driver     // one instance per driver name
	clients map[string]drivers.Driver     // by cluster name
	refs    map[string]drivers.ClusterRef // by cluster name
	// observed is the session's latest observation by cluster name: Apply
	// judges the plan's VMs against it.
	observed map[string]*drivers.Observed
}

// Open starts a session: the lock (unless ReadOnly), then the journal.
func Open(ctx context.Context, opts SessionOptions) (*Session, error) {
	if opts.Registry == nil {
		return nil, errors.New("apply: session without a driver registry")
	}
	if opts.Notify == nil {
		opts.Notify = func(string) {}
	}
	s := &Session{opts: opts, byName: map[string]drivers.Driver{}, clients: map[string]drivers.Driver{},
		refs: map[string]drivers.ClusterRef{}, observed: map[string]*drivers.Observed{}}
	if !opts.ReadOnly {
		lock, err := AcquireLock(ctx, opts.Config.StateDir, LockOptions{Timeout: opts.LockTimeout, Command: opts.Command, Notify: opts.Notify})
		if err != nil {
			return nil, err
		}
		s.lock = lock
	}
	entries, warnings, err := ReadJournalFileWarn(opts.Config.StateDir)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%w (journal in %s)", err, opts.Config.StateDir)
	}
	for _, w := range warnings {
		opts.Notify(fmt.Sprintf("warning: %s (journal in %s)", w, opts.Config.StateDir))
	}
	s.entries = entries
	return s, nil
}

// Journal is what the journal held when the session opened: an interrupted
// run's completed and pending steps (nil when the last run converged).
func (s *Session) Journal() []Entry { return s.entries }

// Acceptances are the vTPM identity acceptances of the journal, for the
// planner (plan.Options.Accept).
func (s *Session) Acceptances() plan.Acceptances { return JournalAcceptances(s.entries) }

// PlanOptions are base with what the journal tells the planner: the vTPM
// identities it accepts (joined with base.Accept's) and the VMs an
// interrupted run left part-done.
func (s *Session) PlanOptions(base plan.Options) plan.Options {
	journal := s.Acceptances()
	for k := range base.Accept.Any {
		journal = journal.WithOperator(k)
	}
	base.Accept = journal
	for _, e := range s.entries {
		if key, ok := e.vmKey(); ok {
			if base.Resumed == nil {
				base.Resumed = map[string]bool{}
			}
			base.Resumed[key] = true
		}
	}
	return base
}

// Resuming describes the journal for a person, or "" when it is empty. A
// pending entry whose step has a completed entry of the same run is not
// counted as interrupted: it completed.
func (s *Session) Resuming() string {
	if len(s.entries) == 0 {
		return ""
	}
	completed := map[[2]string]bool{}
	for _, e := range s.entries {
		if !e.Pending {
			completed[[2]string{e.Run, e.Step}] = true
		}
	}
	done, interrupted := len(completed), 0
	for _, e := range s.entries {
		if e.Pending && !completed[[2]string{e.Run, e.Step}] {
			interrupted++
		}
	}
	return fmt.Sprintf("resuming: the journal holds %d completed and %d interrupted step(s) of an earlier apply that did not finish; re-observing and planning from what is there now", done, interrupted)
}

// drivers returns the session's driver for every ref, opening each driver
// name once for the whole session.
func (s *Session) driversFor(refs []drivers.ClusterRef) (map[string]drivers.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]drivers.Driver, len(refs))
	for _, ref := range refs {
		d, ok := s.byName[ref.Driver]
		if !ok {
			var err error
			if d, err = s.opts.Registry.Open(ref.Driver, s.opts.Config); err != nil {
				return nil, fmt.Errorf("cluster/%s: %w", ref.Name, err)
			}
			s.byName[ref.Driver] = d
		}
		s.clients[ref.Name], s.refs[ref.Name] = d, ref
		out[ref.Name] = d
	}
	return out, nil
}

// Observe observes every cluster in parallel through the session's drivers
// and returns the observations by cluster name; all failures are reported
// together.
func (s *Session) Observe(ctx context.Context, refs []drivers.ClusterRef) (map[string]*drivers.Observed, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observe: %w", err)
	}
	drvs, err := s.driversFor(refs)
	if err != nil {
		return nil, err
	}
	obs := make([]*drivers.Observed, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := drvs[r.Name].Observe(ctx, r)
			if err == nil && o == nil {
				err = errors.New("driver returned no observation")
			}
			if err == nil {
				o.Profile = drivers.ProfileOf(drvs[r.Name])
			}
			if err != nil {
				errs[i] = fmt.Errorf("cluster/%s: observe: %w; check that the cluster is reachable and plan again", r.Name, err)
			}
			obs[i] = o
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make(map[string]*drivers.Observed, len(refs))
	s.mu.Lock()
	for i, r := range refs {
		out[r.Name] = obs[i]
		s.observed[r.Name] = obs[i]
	}
	s.mu.Unlock()
	return out, nil
}

// Apply runs p on the session's drivers (the instances that observed), with
// the journal, and clears the journal only when every change converged:
// nothing failed, nothing was cancelled and nothing stayed blocked (a
// blocked change still differs from the YAML, and the identities the journal
// accepts must survive until it is applied). opts.Journal and opts.Refs are
// the session's. A plan without changes converges at once.
func (s *Session) Apply(ctx context.Context, p *plan.Plan, opts Options) (*Report, error) {
	if s.opts.ReadOnly {
		return nil, errors.New("apply: this session is read-only (plan, show or watch --mode detect); nothing was applied")
	}
	if p == nil {
		return nil, errors.New("apply: no plan given")
	}
	if !p.HasChanges() {
		return noChanges(opts), s.clearJournal()
	}
	if err := s.guard(ctx, p); err != nil {
		return nil, err
	}
	drvs, err := s.driversFor(p.Clusters)
	if err != nil {
		return nil, err
	}
	journal, err := OpenJournal(s.opts.Config.StateDir)
	if err != nil {
		return nil, err
	}
	defer journal.Close()
	opts.Journal = journal
	opts.Refs = make(map[string]drivers.ClusterRef, len(p.Clusters))
	for _, r := range p.Clusters {
		opts.Refs[r.Name] = r
	}
	rep, err := Run(ctx, p, drvs, opts)
	switch {
	case err != nil || rep == nil || rep.Failed():
		return rep, err
	case rep.Counts.Blocked > 0:
		// Everything that ran converged; keep only what the blocked
		// changes may still need, so watch's journal stays small.
		if err := CompactJournal(s.opts.Config.StateDir); err != nil {
			s.opts.Notify(fmt.Sprintf("%v: the journal keeps entries it no longer needs", err))
		}
		return rep, nil
	}
	return rep, s.clearJournal()
}

// noChanges is the report of a plan without changes, and its events: the
// run-started and run-finished pair every run emits, so that an event
// consumer (--format json) sees a run, not silence.
func noChanges(opts Options) *Report {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	rep := &Report{Started: now(), Resources: []ResourceResult{}}
	rep.Finished = rep.Started
	if opts.Events != nil {
		opts.Events(Event{Time: rep.Started, Kind: EventRunStarted, Message: NoChangesMessage})
		opts.Events(Event{Time: rep.Finished, Kind: EventRunFinished, Message: NoChangesMessage, Report: rep})
	}
	return rep
}

// NoChangesMessage is what a run of a plan without changes says.
const NoChangesMessage = "No changes. The clusters match the desired state."

// guard judges every VM of p against the session's observation, observing
// first the clusters this session has not (a plan applied without Observe).
func (s *Session) guard(ctx context.Context, p *plan.Plan) error {
	var missing []drivers.ClusterRef
	s.mu.Lock()
	for _, r := range p.Clusters {
		if s.observed[r.Name] == nil {
			missing = append(missing, r)
		}
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		if _, err := s.Observe(ctx, missing); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return guardVMs(p, s.observed)
}

// clearJournal empties the journal: the clusters match, nothing to resume. A
// journal that cannot be cleared is reported, not fatal: the next run
// re-plans from what it observes.
func (s *Session) clearJournal() error {
	if err := ClearJournal(s.opts.Config.StateDir); err != nil {
		s.opts.Notify(fmt.Sprintf("%v: the next apply will re-plan from what it observes", err))
	}
	s.entries = nil
	return nil
}

// Close closes the drivers and releases the lock.
func (s *Session) Close() error {
	s.mu.Lock()
	for name, d := range s.byName {
		if c, ok := d.(drivers.Closer); ok {
			_ = c.Close() // nothing left to do with a driver that will not close
		}
		delete(s.byName, name)
	}
	s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.lock.Release()
	s.lock = nil
	return err
}
