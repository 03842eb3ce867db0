package apply_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// countingReg registers driver "rec", a recDriver, counting opens and closes.
type countingReg struct {
	mu             sync.Mutex
	opened, closed int
	d              *recDriver
}

type closingRec struct {
	*recDriver
	c *countingReg
}

func (d closingRec) Close() error {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	d.c.closed++
	return nil
}

func (c *countingReg) registry() *drivers.Registry {
	reg := drivers.NewRegistry()
	reg.Register("rec", func(drivers.Config) (drivers.Driver, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.opened++
		return closingRec{c.d, c}, nil
	})
	reg.Register("broken", func(drivers.Config) (drivers.Driver, error) { return nil, errors.New("no host") })
	return reg
}

func openSession(t *testing.T, c *countingReg, dir string, readOnly bool) *apply.Session {
	t.Helper()
	s, err := apply.Open(context.Background(), apply.SessionOptions{Registry: c.registry(), Config: drivers.Config{StateDir: dir}, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSessionOneDriverInstance: observe and apply reach every cluster through
// one instance per driver name, opened once for the whole session and closed
// by Close.
func TestSessionOneDriverInstance(t *testing.T) {
	c := &countingReg{d: newRec(runningVM("a"))}
	s := openSession(t, c, t.TempDir(), false)
	refs := []drivers.ClusterRef{{Name: "c1", Driver: "rec"}, {Name: "c2", Driver: "rec"}}
	obs, err := s.Observe(context.Background(), refs)
	if err != nil || len(obs) != 2 || obs["c1"] == nil || obs["c2"] == nil {
		t.Fatalf("Observe = %v, %v; want both clusters", obs, err)
	}
	if _, err := s.Apply(context.Background(), updatePlan("a"), apply.Options{Retry: fastRetry}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if c.opened != 1 || c.closed != 0 {
		t.Fatalf("opened %d, closed %d before Close; want one instance, still open", c.opened, c.closed)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c.closed != 1 {
		t.Fatalf("closed %d after Close, want 1", c.closed)
	}
}

func TestSessionRefusals(t *testing.T) {
	c := &countingReg{d: newRec(runningVM("a"))}
	dir := t.TempDir()
	t.Run("unknown or failing driver names the cluster", func(t *testing.T) {
		s := openSession(t, c, dir, true)
		defer s.Close()
		_, err := s.Observe(context.Background(), []drivers.ClusterRef{{Name: "x", Driver: "vmware"}})
		if !errors.Is(err, drivers.ErrNotFound) || !strings.Contains(err.Error(), "cluster/x") {
			t.Errorf("unknown driver: err = %v", err)
		}
		_, err = s.Observe(context.Background(), []drivers.ClusterRef{{Name: "c9", Driver: "broken"}})
		if err == nil || err.Error() != "cluster/c9: no host" {
			t.Errorf("failing driver: err = %v, want cluster/c9: no host", err)
		}
	})
	t.Run("cancelled context observes nothing", func(t *testing.T) {
		s := openSession(t, c, dir, true)
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Observe(ctx, []drivers.ClusterRef{{Name: "c1", Driver: "rec"}}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("a read-only session never applies", func(t *testing.T) {
		s := openSession(t, c, dir, true)
		defer s.Close()
		if _, err := s.Apply(context.Background(), updatePlan("a"), apply.Options{}); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("err = %v, want a read-only refusal", err)
		}
		if got := c.d.ops(); got != "" {
			t.Errorf("ops ran: %s", got)
		}
	})
	t.Run("the lock keeps a second writing session out", func(t *testing.T) {
		s := openSession(t, c, dir, false)
		_, err := apply.Open(context.Background(), apply.SessionOptions{Registry: c.registry(), Config: drivers.Config{StateDir: dir}})
		var le *apply.LockedError
		if !errors.As(err, &le) {
			t.Errorf("second session: err = %v, want a LockedError", err)
		}
		ro := openSession(t, c, dir, true) // plan and show need no lock
		ro.Close()
		s.Close()
		openSession(t, c, dir, false).Close()
	})
}

// TestSessionClearsJournalOnlyWhenConverged: a run with a blocked change
// keeps the journal's open acceptances (they must outlive the block) and
// drops the rest; a converged run clears it.
func TestSessionClearsJournalOnlyWhenConverged(t *testing.T) {
	dir, j := openJournal(t)
	if err := j.Record(apply.Entry{Cluster: "c1", Resource: "vm/b", Step: "vm/b/enable-tpm", Op: drivers.OpEnableTPM, IdentityChange: true}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	c := &countingReg{d: newRec(runningVM("a"), runningVM("b"))}
	blocked := updatePlan("a", "b")
	blocked.Changes[1].Steps[2].Blocked = &plan.Blocked{Code: plan.BlockProtected, Reason: "vm/b is protected"}
	s := openSession(t, c, dir, false)
	if !s.Acceptances().Any["vm/c1/b"] {
		t.Fatalf("acceptances %+v, want the journal's vm/c1/b", s.Acceptances())
	}
	rep, err := s.Apply(context.Background(), blocked, apply.Options{Retry: fastRetry})
	if err != nil || rep.Counts.Blocked != 1 {
		t.Fatalf("Apply: %v, %+v; want one blocked change", err, rep)
	}
	s.Close()
	// vm/a converged, and its entries of this run go; vm/b's acceptance
	// stays for the run that applies its change.
	entries, _ := apply.ReadJournalFile(dir)
	if len(entries) != 1 || entries[0].Resource != "vm/b" || !apply.JournalAcceptances(entries).Any["vm/c1/b"] {
		t.Fatalf("journal after a run with vm/b blocked: %+v, want only vm/b's entry", entries)
	}
	s = openSession(t, c, dir, false)
	defer s.Close()
	if _, err := s.Apply(context.Background(), &plan.Plan{FormatVersion: plan.FormatVersion, Changes: []plan.Change{}}, apply.Options{}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := apply.ReadJournalFile(dir); len(entries) != 0 {
		t.Fatalf("the journal holds %d entries after a converged run, want none", len(entries))
	}
}

// TestSessionResumingAndPlanOptions: the resume message counts a pending
// entry whose step then completed as completed, not as interrupted; the plan
// options carry the journal's acceptances (the operator's joined) and the
// VMs the interrupted run left part-done.
func TestSessionResumingAndPlanOptions(t *testing.T) {
	dir, j := openJournal(t)
	for _, e := range []apply.Entry{
		{Run: "r1", Cluster: "c1", Resource: "vm/a", Step: "vm/a/enable-tpm", Op: drivers.OpEnableTPM, IdentityChange: true, Pending: true},
		{Run: "r1", Cluster: "c1", Resource: "vm/a", Step: "vm/a/enable-tpm", Op: drivers.OpEnableTPM, IdentityChange: true, NewIdentity: "id-a"},
		{Run: "r1", Cluster: "c1", Resource: "vm/b", Step: "vm/b/stop-vm", Op: drivers.OpStopVM},
		{Run: "r1", Cluster: "c1", Resource: "vm/c", Step: "vm/c/create-vm", Op: drivers.OpCreateVM, IdentityChange: true, Pending: true},
		{Run: "r1", Cluster: "c1", Resource: "node/n1", Step: "node/n1/start-igvm-agent", Op: drivers.OpStartIgvmAgent},
	} {
		if err := j.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	s := openSession(t, &countingReg{d: newRec()}, dir, true)
	defer s.Close()
	if got, want := s.Resuming(), "the journal holds 3 completed and 1 interrupted step(s)"; !strings.Contains(got, want) {
		t.Errorf("Resuming() = %q, want it to say %q", got, want)
	}
	o := s.PlanOptions(plan.Options{Prune: true, Accept: plan.Acceptances{Any: map[string]bool{"vm/c1/a": true}}})
	if !o.Prune || !o.Accept.Any["vm/c1/a"] || o.Accept.Only["vm/c1/a"] != "" || !o.Accept.Any["vm/c1/c"] {
		t.Errorf("acceptances %+v: want the operator's vm/c1/a lifting the journal's narrowing, and the journal's vm/c1/c", o.Accept)
	}
	if want := map[string]bool{"vm/c1/a": true, "vm/c1/b": true, "vm/c1/c": true}; !reflect.DeepEqual(o.Resumed, want) {
		t.Errorf("resumed %v, want %v", o.Resumed, want)
	}
}
