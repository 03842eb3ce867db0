package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake/hvmodel"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// lostFindings plans with the real binary (--format json, plus extra) and
// returns the plan's exit code and its vtpm-state-lost findings.
func (e *applyEnv) lostFindings(extra ...string) (int, []plan.Finding) {
	e.t.Helper()
	out, errOut, code := e.run(append([]string{"plan", "-f", e.dir, "--format", "json", "--detailed-exitcode"}, extra...)...)
	if code == 1 {
		e.t.Fatalf("plan failed\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		e.t.Fatalf("plan output: %v\n%s", err, out)
	}
	var lost []plan.Finding
	for _, f := range p.Findings {
		if f.Rule == plan.RuleVTPMStateLost {
			lost = append(lost, f)
		}
	}
	return code, lost
}

// TestAcceptVTPMIdentity is the way out of a lost vTPM, through the real
// binary: a failover loses vm/a's vTPM state, plan reports vtpm-state-lost on
// every run, the operator accepts the new identity (directly with apply, or in
// a saved plan), the new identity is recorded, and the next plan is clean and
// exits 0 with --detailed-exitcode.
func TestAcceptVTPMIdentity(t *testing.T) {
	tests := []struct {
		name   string
		accept func(e *applyEnv) (stderr string)
	}{
		{"apply -f", func(e *applyEnv) string {
			out, errOut, code := e.run("apply", "-f", e.dir, "--accept-vtpm-identity", "vm/a", "--auto-approve")
			if code != 0 {
				t.Fatalf("apply --accept-vtpm-identity: exit %d\n%s\n%s", code, out, errOut)
			}
			return errOut
		}},
		{"plan -out, apply PLANFILE", func(e *applyEnv) string {
			planFile := filepath.Join(t.TempDir(), "plan.json")
			out, planErr, code := e.run("plan", "-f", e.dir, "--accept-vtpm-identity", "vm/a", "-out", planFile)
			if code != 0 {
				t.Fatalf("plan --accept-vtpm-identity: exit %d\n%s\n%s", code, out, planErr)
			}
			if strings.Contains(out, plan.RuleVTPMStateLost) {
				t.Errorf("the accepting plan still reports %s:\n%s", plan.RuleVTPMStateLost, out)
			}
			if out, errOut, code := e.run("apply", planFile); code != 0 {
				t.Fatalf("apply %s: exit %d\n%s\n%s", planFile, code, out, errOut)
			}
			return planErr
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a"}, vmDoc{name: "b"})
			e.mustApply()
			old := e.vm("a").VTPMIdentity
			if out, errOut, code := e.run("sim", "failover", "--cluster", "c1", "--vm", "a", "--to", "node2", "--lose-vtpm"); code != 0 {
				t.Fatalf("sim failover: exit %d\n%s\n%s", code, out, errOut)
			}
			lostID := e.vm("a").VTPMIdentity
			if lostID == old || lostID == "" {
				t.Fatalf("the failover kept the vTPM identity %q", lostID)
			}

			// Without acceptance the finding stays, run after run, and the
			// old identity stays recorded.
			e.mustApply()
			if _, lost := e.lostFindings(); len(lost) != 1 || lost[0].Resource != "vm/a" || lost[0].Severity != plan.SeverityError {
				t.Fatalf("before accepting: findings %+v, want one error for vm/a", lost)
			}
			if rec := e.vm("a").Annotations.VTPMIdentity; rec != old {
				t.Fatalf("before accepting, recorded identity %s, want the old %s", rec, old)
			}

			stderr := tt.accept(e)
			if want := "vm/a: --accept-vtpm-identity: recording the new vTPM identity " + drivers.Identity(lostID).Short() + " in place of " + drivers.Identity(old).Short(); !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			if a := e.vm("a"); a.Annotations == nil || a.Annotations.VTPMIdentity != lostID || a.Annotations.Node != "node2" {
				t.Errorf("after accepting: annotations %+v, want identity %s on node2", a.Annotations, lostID)
			}
			if code, lost := e.lostFindings(); code != 0 || len(lost) != 0 {
				t.Errorf("plan after accepting: exit %d, findings %+v; want 0 and none", code, lost)
			}
		})
	}
}

// TestAcceptVTPMIdentityUnknownVM: a VM the YAML does not declare is refused
// by name, before any cluster is observed.
func TestAcceptVTPMIdentityUnknownVM(t *testing.T) {
	for _, command := range []string{"plan", "apply"} {
		t.Run(command, func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a"})
			_, errOut, code := e.run(command, "-f", e.dir, "--accept-vtpm-identity", "vm/ghost", "--accept-vtpm-identity", "vm/a")
			want := command + `: --accept-vtpm-identity vm/ghost: no VM "ghost" is declared in the YAML`
			if code != 1 || !strings.Contains(errOut, want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, errOut, want)
			}
			if _, err := os.Stat(filepath.Join(e.state, "sim")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the sim cluster was observed (and created) before the flag was refused: stat: %v", err)
			}
		})
	}
}

// TestApplyResumeAcceptsOnlyJournaledIdentity, through the real binary: an
// apply resets vm/a's vTPM (a template change) and fails before recording the
// new identity; the journal holds the identity vm/a had right after the reset.
// The vTPM is then lost in a failover. The resuming apply reports
// vtpm-state-lost and keeps the last verified identity, instead of recording
// the lost one as if it were the planned reset's; the operator's
// --accept-vtpm-identity still accepts whatever is there.
func TestApplyResumeAcceptsOnlyJournaledIdentity(t *testing.T) {
	for _, operatorAccepts := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept-vtpm-identity=%v", operatorAccepts), func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a"})
			e.mustApply()
			old := e.vm("a").VTPMIdentity
			// Changed outside tlreconcile on the initialised vTPM: putting the
			// template back needs a vTPM reset.
			if err := e.sim().Drift(context.Background(), "c1", "a", []hvmodel.Setting{{Field: "secureBootTemplate", Value: spec.TemplateMicrosoftUEFICA}}); err != nil {
				t.Fatal(err)
			}
			e.inject(hvmodel.Fault{Op: drivers.OpSetAnnotations, FailAlways: true})
			if out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--allow-destructive", "--retry-base", "1ms", "--retry-max", "5ms"); code != 1 {
				t.Fatalf("apply with set-annotations failing: exit %d, want 1\n%s\n%s", code, out, errOut)
			}
			if err := e.sim().ClearFaults("c1"); err != nil {
				t.Fatal(err)
			}
			resetID := e.vm("a").VTPMIdentity
			entries, err := apply.ReadJournalFile(e.state)
			if err != nil {
				t.Fatal(err)
			}
			if got := apply.AcceptedIdentities(entries)["vm/c1/a"]; resetID == old || got != resetID {
				t.Fatalf("journal accepts %q for vm/a, want the identity after the reset %q (before: %q)", got, resetID, old)
			}
			if out, errOut, code := e.run("sim", "failover", "--cluster", "c1", "--vm", "a", "--to", "node2", "--lose-vtpm"); code != 0 {
				t.Fatalf("sim failover: exit %d\n%s\n%s", code, out, errOut)
			}
			lostID := e.vm("a").VTPMIdentity
			if lostID == resetID || lostID == "" {
				t.Fatalf("the failover kept the vTPM identity %q", lostID)
			}

			args := []string{"apply", "-f", e.dir, "--auto-approve", "--allow-destructive"}
			if operatorAccepts {
				args = append(args, "--accept-vtpm-identity", "vm/a")
			}
			out, errOut, code := e.run(args...)
			if code == 1 && !strings.Contains(out+errOut, "resuming") {
				t.Fatalf("resuming apply: exit %d\n%s\n%s", code, out, errOut)
			}
			reported := strings.Contains(out+errOut, plan.RuleVTPMStateLost)
			rec := e.vm("a").Annotations.VTPMIdentity
			switch {
			case operatorAccepts && (reported || rec != lostID):
				t.Errorf("with --accept-vtpm-identity: lost reported %v, recorded %s; want no finding and %s recorded\n%s\n%s", reported, drivers.Identity(rec).Short(), drivers.Identity(lostID).Short(), out, errOut)
			case !operatorAccepts && (!reported || rec != old):
				t.Errorf("resuming apply: lost reported %v, recorded %s; want vtpm-state-lost and the last verified %s kept\n%s\n%s", reported, drivers.Identity(rec).Short(), drivers.Identity(old).Short(), out, errOut)
			}
		})
	}
}
