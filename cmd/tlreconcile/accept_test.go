package main

import (
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
	"github.com/tlreconcile/tlreconcile/internal/plan"
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
			to := e.otherNode("a")
			e.sim("failover", "--cluster", "c1", "--vm", "a", "--to", to, "--lose-vtpm")
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
			if a := e.vm("a"); a.Annotations == nil || a.Annotations.VTPMIdentity != lostID || a.Annotations.Node != to {
				t.Errorf("after accepting: annotations %+v, want identity %s on %s", a.Annotations, lostID, to)
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
			if _, err := os.Stat(filepath.Join(e.state, "cluster")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the sim cluster was observed (and created) before the flag was refused: stat: %v", err)
			}
		})
	}
}

// TestApplyResumeAcceptsOnlyJournaledIdentity, through the real binary: an
// apply replaces vm/a (a Standard VM made trusted-launch: the security profile
// is fixed at create) and fails before recording the new VM's identity; the
// journal holds the identity vm/a had right after the create.
// The vTPM is then lost in a failover. The resuming apply reports
// vtpm-state-lost and keeps the last verified identity, instead of recording
// the lost one as if it were the planned reset's; the operator's
// --accept-vtpm-identity still accepts whatever is there.
func TestApplyResumeAcceptsOnlyJournaledIdentity(t *testing.T) {
	for _, operatorAccepts := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept-vtpm-identity=%v", operatorAccepts), func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a", standard: true})
			e.mustApply()
			old := e.vm("a").VTPMIdentity // a Standard VM: none
			e.write(vmDoc{name: "a"})
			// Tags are written with a PATCH of the Arc machine: set-annotations fails.
			e.inject("--operation", "Machines_Update", "--transient", "1000", "--status", "500")
			if out, errOut, code := e.run("apply", "-f", e.dir, "--auto-approve", "--allow-destructive", "--retry-base", "1ms", "--retry-max", "5ms"); code != 1 {
				t.Fatalf("apply with set-annotations failing: exit %d, want 1\n%s\n%s", code, out, errOut)
			}
			e.clearFaults()
			resetID := e.vm("a").VTPMIdentity
			entries, err := apply.ReadJournalFile(e.state)
			if err != nil {
				t.Fatal(err)
			}
			if got := apply.AcceptedIdentities(entries)["vm/c1/a"]; resetID == old || got != resetID {
				t.Fatalf("journal accepts %q for vm/a, want the identity after the reset %q (before: %q)", got, resetID, old)
			}
			e.sim("failover", "--cluster", "c1", "--vm", "a", "--to", e.otherNode("a"), "--lose-vtpm")
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
			var rec string
			if a := e.vm("a"); a.Annotations != nil {
				rec = a.Annotations.VTPMIdentity
			}
			switch {
			case operatorAccepts && (reported || rec != lostID):
				t.Errorf("with --accept-vtpm-identity: lost reported %v, recorded %s; want no finding and %s recorded\n%s\n%s", reported, drivers.Identity(rec).Short(), drivers.Identity(lostID).Short(), out, errOut)
			case !operatorAccepts && (!reported || rec != resetID):
				// Nothing was recorded on the new VM (old is none); the
				// identity its create gave it, which the journal read, is
				// the last verified one, and is what gets recorded.
				t.Errorf("resuming apply: lost reported %v, recorded %s; want vtpm-state-lost and the journal's %s recorded (before: %q)\n%s\n%s", reported, drivers.Identity(rec).Short(), drivers.Identity(resetID).Short(), old, out, errOut)
			}
		})
	}
}
