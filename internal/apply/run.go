package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// RunError is returned with the Report when a run did not fully succeed.
type RunError struct {
	Failed    []string // resources that failed, in plan order
	Cancelled bool
	// LeftOff names each VM this run stopped and left Off, with why
	// ("vm/a could not be started again (…)" or "vm/a left Off: …").
	LeftOff []string
}

func (e *RunError) Error() string {
	var parts []string
	if len(e.Failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d resource(s) failed (%s): fix the cause shown for each and re-run apply", len(e.Failed), strings.Join(e.Failed, ", ")))
	}
	if e.Cancelled {
		parts = append(parts, "the run was cancelled before every step ran: re-run apply to finish")
	}
	parts = append(parts, e.LeftOff...)
	return "apply: " + strings.Join(parts, "; ")
}

// Run executes p with the drivers given by cluster name. Cluster and node
// changes run first; then each VM's steps run in depends_on order, up to
// Parallelism VMs at once. It never re-decides the plan. Plan problems and the
// destructive guard are checked before any step runs. When ctx ends, no new
// step starts, running steps finish, and the report says what did not run.
// The Report is returned even with an error: it holds the partial progress.
func Run(ctx context.Context, p *plan.Plan, drvs map[string]drivers.Driver, opts Options) (*Report, error) {
	if p == nil {
		return nil, errors.New("apply: no plan given")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	opts = opts.withDefaults()
	orders, err := check(p, opts.AllowDestructive)
	if err != nil {
		return nil, err
	}
	refs := map[string]drivers.ClusterRef{}
	for _, ref := range p.Clusters {
		refs[ref.Name] = ref
	}
	for name, ref := range opts.Refs {
		refs[name] = ref
	}
	var missing []string
	for _, c := range p.Changes {
		if len(c.Steps) > 0 && drvs[c.Cluster] == nil && !contains(missing, c.Cluster) {
			missing = append(missing, c.Cluster)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cluster %s: no driver given: check the Cluster documents and the plan's clusters", strings.Join(missing, ", "))
	}

	r := &runner{
		plan:      p,
		orders:    orders,
		drivers:   drvs,
		refs:      refs,
		opts:      opts,
		report:    &Report{Started: opts.Now(), Resources: []ResourceResult{}},
		runID:     fmt.Sprintf("%d", opts.Now().UnixNano()),
		clusterSt: map[string]Status{},
		active:    map[int]progress{},
	}
	cluster, vms, steps := r.slots()
	r.emit(Event{Kind: EventRunStarted, Message: fmt.Sprintf("%d cluster/node change(s), %d VM change(s), parallelism %d", len(cluster), len(vms), opts.Parallelism), Steps: steps})
	stopWatch := r.watchInterrupt(ctx)
	r.phase(ctx, cluster)
	r.phase(ctx, vms)
	stopWatch()

	rep := r.report
	rep.Finished = opts.Now()
	rep.Cancelled = ctx.Err() != nil && r.anyNotRun()
	rep.count()
	r.emit(Event{Kind: EventRunFinished, Elapsed: rep.Finished.Sub(rep.Started), Report: rep})
	if rep.Failed() {
		re := &RunError{Cancelled: rep.Cancelled}
		for _, res := range rep.Resources {
			if res.Status == StatusFailed {
				re.Failed = append(re.Failed, res.Resource)
			}
			if res.LeftOff {
				re.LeftOff = append(re.LeftOff, res.Resource+" "+res.Power)
			}
		}
		return rep, re
	}
	return rep, nil
}

// slots fills the report with one slot per change that has steps and returns
// the slots of the cluster/node phase, of the VM phase, and the step count.
func (r *runner) slots() (cluster, vms []int, steps int) {
	for i := range r.plan.Changes {
		c := &r.plan.Changes[i]
		if len(c.Steps) == 0 {
			continue // noop: nothing happens, nothing to report
		}
		r.report.Resources = append(r.report.Resources, ResourceResult{
			Resource: c.Resource, Cluster: c.Cluster, Action: c.Action, Steps: []StepResult{},
		})
		r.slot = append(r.slot, i)
		steps += len(c.Steps)
		if isVM(c) {
			vms = append(vms, len(r.slot)-1)
		} else {
			cluster = append(cluster, len(r.slot)-1)
		}
	}
	return cluster, vms, steps
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// runner is the state of one Run.
type runner struct {
	plan    *plan.Plan
	orders  [][]int
	drivers map[string]drivers.Driver
	refs    map[string]drivers.ClusterRef
	opts    Options
	report  *Report
	slot    []int // report index → change index
	runID   string

	emitMu sync.Mutex

	mu        sync.Mutex
	clusterSt map[string]Status // step ID → status, for steps of cluster changes
	active    map[int]progress  // report slot → progress of a change that runs now
}

func (r *runner) emit(e Event) {
	if r.opts.Events == nil {
		return
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if e.Time.IsZero() {
		e.Time = r.opts.Now()
	}
	r.opts.Events(e)
}

// phase runs the given report slots, up to Parallelism at once, and waits.
func (r *runner) phase(ctx context.Context, slots []int) {
	sem := make(chan struct{}, r.opts.Parallelism)
	var wg sync.WaitGroup
	for _, k := range slots {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			r.skipAll(k, "cancelled before it started")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.runChange(ctx, k)
		}()
	}
	wg.Wait()
}

func (r *runner) anyNotRun() bool {
	for _, res := range r.report.Resources {
		for _, s := range res.Steps {
			if s.Status == StatusSkipped && s.Error == reasonCancelled {
				return true
			}
		}
		if res.Status == StatusSkipped && strings.HasPrefix(res.Reason, "cancelled") {
			return true
		}
	}
	return false
}

const reasonCancelled = "cancelled: no new steps start after an interrupt"

// skipAll marks every step of slot k skipped without running any.
func (r *runner) skipAll(k int, why string) {
	c := &r.plan.Changes[r.slot[k]]
	res := &r.report.Resources[k]
	res.Status, res.Reason = StatusSkipped, why
	for _, j := range r.orders[r.slot[k]] {
		s := &c.Steps[j]
		res.Steps = append(res.Steps, StepResult{ID: s.ID, Op: s.Kind, Status: StatusSkipped, Error: why})
		r.setClusterStatus(c, s.ID, StatusSkipped)
	}
	r.emit(Event{Kind: EventStepSkipped, Resource: c.Resource, Cluster: c.Cluster, Message: why, Steps: len(r.orders[r.slot[k]])})
}

func (r *runner) setClusterStatus(c *plan.Change, id string, st Status) {
	if isVM(c) {
		return
	}
	r.mu.Lock()
	r.clusterSt[id] = st
	r.mu.Unlock()
}

// depProblem says why s cannot run because a cluster step it depends on did
// not succeed ("" when it may run). Dependencies inside the change are handled
// by stopping the change at its first failure.
func (r *runner) depProblem(c *plan.Change, s *plan.Step) string {
	if !isVM(c) {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range s.DependsOn {
		if st, ok := r.clusterSt[d]; ok && st != StatusSucceeded {
			return fmt.Sprintf("not run: step %s it depends on %s", d, st)
		}
	}
	return ""
}

// runChange executes one change's steps in order, then restores power or
// verifies. It writes only its own report slot.
func (r *runner) runChange(ctx context.Context, k int) {
	c := &r.plan.Changes[r.slot[k]]
	res := &r.report.Resources[k]
	order := r.orders[r.slot[k]]
	if _, b := c.Blocker(); b != nil {
		r.settleBlocked(c, res, order)
		return
	}
	// The cluster phase is over: when any step of this change waits for a
	// cluster step that did not succeed, run none of them, so that a VM is
	// never stopped for a start-vm or move-vm that cannot run (restoring its
	// power would need that cluster step too).
	for _, j := range order {
		if why := r.depProblem(c, &c.Steps[j]); why != "" {
			r.skipAll(k, why)
			return
		}
	}
	if why := r.destructiveRefused(ctx, c, order); why != "" {
		res.Status, res.Reason = StatusFailed, why
		for _, j := range order {
			s := &c.Steps[j]
			res.Steps = append(res.Steps, StepResult{ID: s.ID, Op: s.Kind, Status: StatusSkipped, Error: why})
		}
		r.emit(Event{Kind: EventStepFailed, Resource: c.Resource, Cluster: c.Cluster, Error: why, Steps: len(order)})
		return
	}
	defer r.track(k, nil)
	run := r.runSteps(ctx, k, res, order)
	r.track(k, &progress{pos: len(order), stopped: run.stopped})
	if res.Status == "" {
		r.verify(ctx, c, res, run.filledID)
		return
	}
	if run.stopped && isVM(c) {
		r.restorePower(ctx, c, res, run.then)
	}
}

// settleBlocked reports a change the planner blocked: none of its steps runs.
func (r *runner) settleBlocked(c *plan.Change, res *ResourceResult, order []int) {
	var why []string
	for _, s := range c.Steps {
		if s.Blocked != nil {
			why = append(why, s.ID+": "+s.Blocked.Reason)
		}
	}
	res.Status, res.Reason = StatusBlocked, strings.Join(why, "; ")
	for _, j := range order {
		s := &c.Steps[j]
		msg := ""
		if s.Blocked != nil {
			msg = s.Blocked.Reason
		}
		res.Steps = append(res.Steps, StepResult{ID: s.ID, Op: s.Kind, Status: StatusBlocked, Error: msg})
		r.setClusterStatus(c, s.ID, StatusBlocked)
	}
	r.emit(Event{Kind: EventStepSkipped, Resource: c.Resource, Cluster: c.Cluster, Message: "blocked: " + res.Reason, Steps: len(order)})
}

// changeRun is what runSteps leaves for power restore and verification.
type changeRun struct {
	stopped  bool            // a stop-vm of this change completed and no start-vm since
	then     *plan.OnFailure // the planner's decision for where the change ended (nil: restart)
	ended    bool
	filledID string // the vTPM identity set-annotations recorded ("" none)
}

// runSteps runs the steps of c in order until one fails or may not run; the
// rest are reported skipped. res.Status stays "" when every step ran.
//
// After an interrupt no new step starts, except inside a vTPM reset's window:
// from the first step the planner marked leave-off-when-not-run up to the
// change's start-vm, the steps run on (windowCtx), because stopping there
// leaves the VM Off.
func (r *runner) runSteps(ctx context.Context, k int, res *ResourceResult, order []int) changeRun {
	c := &r.plan.Changes[r.slot[k]]
	var run changeRun
	ran, finishing := 0, false
	for pos, j := range order {
		s := &c.Steps[j]
		finishing = finishing || leavesOff(s.OnNotRun)
		r.track(k, &progress{pos: pos, finishing: finishing, stopped: run.stopped})
		ctx := windowCtx(ctx, finishing)
		if skip := r.skipReason(ctx, c, s, res.Status != ""); skip != "" {
			if !run.ended {
				run.then, run.ended = s.OnNotRun, true
			}
			r.skipRest(c, res, order[pos:], skip, ran, len(order))
			break
		}
		if err := r.runOne(ctx, c, s, res, &run); err != nil {
			res.Status, res.Reason = StatusFailed, err.Error()
			run.then, run.ended = s.OnFailure, true
			continue
		}
		ran++
		switch s.Kind {
		case drivers.OpStopVM:
			run.stopped = true
		case drivers.OpStartVM:
			run.stopped, finishing = false, false
		}
	}
	return run
}

// runOne journals, runs and journals one step; the error is the change's failure.
func (r *runner) runOne(ctx context.Context, c *plan.Change, s *plan.Step, res *ResourceResult, run *changeRun) error {
	if perr := r.journalPending(c, s); perr != nil {
		res.Steps = append(res.Steps, StepResult{ID: s.ID, Op: s.Kind, Status: StatusFailed, Error: perr.Error()})
		r.emit(Event{Kind: EventStepFailed, Resource: c.Resource, Cluster: c.Cluster, StepID: s.ID, Op: s.Kind, Error: perr.Error()})
		return perr
	}
	sr, id, err := r.runStep(ctx, c, s)
	res.Steps = append(res.Steps, sr)
	r.setClusterStatus(c, s.ID, sr.Status)
	if id != "" {
		run.filledID = id
	}
	if err != nil {
		return err
	}
	return r.journal(c, s, sr, r.identityAfter(ctx, c, s))
}

// skipReason says why s may not run now ("" when it may): an earlier step of
// its change failed, the run was cancelled, or a cluster step it waits for
// did not succeed.
func (r *runner) skipReason(ctx context.Context, c *plan.Change, s *plan.Step, failed bool) string {
	switch {
	case failed:
		return "not run: an earlier step of " + c.Resource + " failed"
	case ctx.Err() != nil:
		return reasonCancelled
	}
	return r.depProblem(c, s)
}

// skipRest reports the steps of rest skipped for why and settles the change's
// status unless a failure already did.
func (r *runner) skipRest(c *plan.Change, res *ResourceResult, rest []int, why string, ran, total int) {
	for _, j := range rest {
		s := &c.Steps[j]
		res.Steps = append(res.Steps, StepResult{ID: s.ID, Op: s.Kind, Status: StatusSkipped, Error: why})
		r.setClusterStatus(c, s.ID, StatusSkipped)
		r.emit(Event{Kind: EventStepSkipped, Resource: c.Resource, Cluster: c.Cluster, StepID: s.ID, Op: s.Kind, Message: why})
	}
	switch {
	case res.Status != "":
	case ran == 0 && why == reasonCancelled:
		res.Status, res.Reason = StatusSkipped, "cancelled before it started"
	case ran == 0:
		res.Status, res.Reason = StatusSkipped, why
	default:
		res.Status, res.Reason = StatusFailed, fmt.Sprintf("%s after %d of %d steps", why, ran, total)
	}
}

// runStep runs one step with retries and reports its result; for a
// set-annotations step that must record a new vTPM identity it first fills the
// identity in from an observation and returns it.
func (r *runner) runStep(ctx context.Context, c *plan.Change, s *plan.Step) (StepResult, string, error) {
	sr := StepResult{ID: s.ID, Op: s.Kind}
	ev := Event{Resource: c.Resource, Cluster: c.Cluster, StepID: s.ID, Op: s.Kind}
	start := time.Now()
	e := ev
	e.Kind = EventStepStarted
	r.emit(e)

	op := s.Op
	var filled string
	if s.RecordsIdentity {
		vm, err := r.observeVM(ctx, c)
		if err != nil {
			err = fmt.Errorf("%s: %s: reading the new vTPM identity to record: %w", c.Resource, s.Kind, err)
			return r.stepFailed(sr, ev, start, 0, err)
		}
		ann := *s.Params.Annotations
		ann.VTPMIdentity = vm.VTPMIdentity
		if ann.Node == "" {
			ann.Node = vm.Node
		}
		params := *s.Params
		params.Annotations = &ann
		op.Params = &params
		filled = vm.VTPMIdentity
	}

	op = withForceStop(op, r.opts.AllowForceStop)
	drv := r.drivers[c.Cluster]
	// A running step is allowed to finish after an interrupt: the driver gets a
	// context that is not cancelled with ctx.
	stepCtx := context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		out, err := drv.Apply(stepCtx, r.ref(c.Cluster), op)
		if err == nil {
			sr.Status, sr.Attempts, sr.Changed, sr.Elapsed = StatusSucceeded, attempt, out.Changed, time.Since(start)
			e := ev
			e.Kind, e.Attempt, e.Elapsed, e.Changed, e.Message = EventStepDone, attempt, sr.Elapsed, out.Changed, out.Message
			r.emit(e)
			return sr, filled, nil
		}
		err = opErr(c, s, err)
		if !drivers.IsTransient(err) || attempt >= r.opts.Retry.Attempts {
			if drivers.IsTransient(err) {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return r.stepFailed(sr, ev, start, attempt, err)
		}
		d := r.opts.Retry.delay(attempt)
		e := ev
		e.Kind, e.Attempt, e.Delay, e.Error = EventStepRetrying, attempt, d, err.Error()
		r.emit(e)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return r.stepFailed(sr, ev, start, attempt, fmt.Errorf("%w (cancelled while waiting to retry)", err))
		}
	}
}

func (r *runner) stepFailed(sr StepResult, ev Event, start time.Time, attempts int, err error) (StepResult, string, error) {
	sr.Status, sr.Attempts, sr.Elapsed, sr.Error = StatusFailed, attempts, time.Since(start), err.Error()
	ev.Kind, ev.Attempt, ev.Elapsed, ev.Error = EventStepFailed, attempts, sr.Elapsed, err.Error()
	r.emit(ev)
	return sr, "", err
}

// ref is the cluster ref of the named cluster, as drivers need it.
func (r *runner) ref(cluster string) drivers.ClusterRef {
	ref := r.refs[cluster]
	if ref.Name == "" {
		ref.Name = cluster
	}
	return ref
}

func vmName(c *plan.Change) string { return c.Address().Name }

// observeVM reads one VM, through VMObserver when the driver has it, retrying
// transient errors.
func (r *runner) observeVM(ctx context.Context, c *plan.Change) (*drivers.VM, error) {
	drv := r.drivers[c.Cluster]
	ref := r.ref(c.Cluster)
	name := vmName(c)
	octx := context.WithoutCancel(ctx)
	var vm *drivers.VM
	var err error
	for attempt := 1; ; attempt++ {
		vm, err = observeOne(octx, drv, ref, name)
		if err == nil || !drivers.IsTransient(err) || attempt >= r.opts.Retry.Attempts {
			return vm, err
		}
		time.Sleep(r.opts.Retry.delay(attempt))
	}
}

func observeOne(ctx context.Context, drv drivers.Driver, ref drivers.ClusterRef, name string) (*drivers.VM, error) {
	if o, ok := drv.(drivers.VMObserver); ok {
		return o.ObserveVM(ctx, ref, name)
	}
	obs, err := drv.Observe(ctx, ref)
	if err != nil {
		return nil, err
	}
	for i := range obs.VMs {
		if obs.VMs[i].Name == name {
			return &obs.VMs[i], nil
		}
	}
	return nil, fmt.Errorf("vm/%s: %w in cluster %s", name, drivers.ErrNotFound, ref.Name)
}

// journal records the completed step s; newID is the VM's vTPM identity read
// right after an identity-changing step ("" = not read or unknown).
func (r *runner) journal(c *plan.Change, s *plan.Step, sr StepResult, newID string) error {
	if r.opts.Journal == nil {
		return nil
	}
	err := r.opts.Journal.Record(Entry{
		Time: r.opts.Now(), Run: r.runID, Cluster: c.Cluster, Resource: c.Resource, Step: s.ID, Op: s.Kind,
		Changed: sr.Changed, IdentityChange: s.ChangesIdentity, NewIdentity: newID,
	})
	if err != nil {
		return fmt.Errorf("%s: %s completed but the journal could not record it: %w", c.Resource, s.ID, err)
	}
	return nil
}

// identityAfter reads the vTPM identity the VM has right after the completed
// identity-changing step s, for the journal: a re-run after a crash then
// accepts only that identity (AcceptedIdentities) instead of any. It returns ""
// (the re-run accepts any new identity, as without it) when there is no
// journal, s changes no identity, the driver cannot read one VM (a whole
// cluster observe per step would cost too much), the read fails (the step did
// complete, so the run goes on), or the identity is unknown there.
func (r *runner) identityAfter(ctx context.Context, c *plan.Change, s *plan.Step) string {
	if r.opts.Journal == nil || !s.ChangesIdentity {
		return ""
	}
	if _, ok := r.drivers[c.Cluster].(drivers.VMObserver); !ok {
		return ""
	}
	vm, err := r.observeVM(ctx, c)
	if err != nil || vm == nil {
		return ""
	}
	return vm.VTPMIdentity
}

// destructiveRefused reads the VM of a change that holds a destructive step
// before any step runs, and says why the change must not run ("" when it may):
// the planner only plans those for VMs tlreconcile manages and that are not
// protected, and a plan file edited by hand, or made before another apply
// protected the VM, must not get past that.
func (r *runner) destructiveRefused(ctx context.Context, c *plan.Change, order []int) string {
	if !isVM(c) {
		return ""
	}
	var step string
	for _, j := range order {
		if s := &c.Steps[j]; s.Destructive {
			step = s.ID
			break
		}
	}
	if step == "" {
		return ""
	}
	vm, err := r.observeVM(ctx, c)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: not run: %s is destructive and the VM could not be read first to check that it is managed and not protected (%v): re-run apply", c.Resource, step, err)
	case vm.Annotations == nil || vm.Annotations.ManagedBy != drivers.ManagedBy:
		return fmt.Sprintf("%s: not run: %s is destructive and the VM is not managed by tlreconcile (no tlreconcile annotations): it is never changed; make a new plan", c.Resource, step)
	case vm.Annotations.Protect:
		return fmt.Sprintf("%s: not run: %s is destructive and the VM is protected (protect: true is recorded on it): set protect: false in the YAML and apply that first, then plan again", c.Resource, step)
	}
	return ""
}

// journalPending records an identity-changing step before it runs, so that a
// run killed while the driver carries it out still lets the re-run accept the
// new identity. When it cannot be recorded the step does not run.
func (r *runner) journalPending(c *plan.Change, s *plan.Step) error {
	if r.opts.Journal == nil || !s.ChangesIdentity {
		return nil
	}
	err := r.opts.Journal.Record(Entry{
		Time: r.opts.Now(), Run: r.runID, Cluster: c.Cluster, Resource: c.Resource, Step: s.ID, Op: s.Kind,
		IdentityChange: true, Pending: true,
	})
	if err != nil {
		return fmt.Errorf("%s: %s not run: the journal could not record it first, so an interrupted run could not be resumed safely: %w", c.Resource, s.ID, err)
	}
	return nil
}

// opErr names the resource and op in err, unless the driver already did.
func opErr(c *plan.Change, s *plan.Step, err error) error {
	var oe *drivers.OpError
	if errors.As(err, &oe) && oe.Target == c.Resource && oe.Op == s.Kind {
		return err
	}
	return fmt.Errorf("%s: %s: %w", c.Resource, s.Kind, err)
}
