package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// planFileYAML declares three nodes and three VMs: prot (protect: true),
// mover (placed on node), resize (processors).
func planFileYAML(node string, processors int) string {
	return `apiVersion: tlreconcile/v1alpha1
kind: Cluster
metadata: {name: c1}
spec:
  driver: sim
  nodes: [node1, node2, node3]
  liveMigration: {encryption: ipsec}
` + vmDoc{name: "prot", extra: "  protect: true\n"}.yaml() +
		vmDoc{name: "mover", extra: "  placement: {node: " + node + "}\n"}.yaml() +
		vmDoc{name: "resize", processors: processors}.yaml()
}

// simFiles reads every file of the simulated platform's state (its
// clusters, VMs, keys, vTPM state and ARM resources; not its locks and the
// records of finished ARM operations), so a test can tell that a refused
// apply left them byte for byte as they were.
func (e *applyEnv) simFiles() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, root := range []string{filepath.Join(e.state, "cluster"), filepath.Join(e.state, "arm", "resources")} {
		e.readTree(root, out)
	}
	return out
}

func (e *applyEnv) readTree(root string, out map[string]string) {
	e.t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "lock" || strings.HasSuffix(d.Name(), ".lock") {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// planDoc is a plan file cut into its header line and its decoded body, for
// edits the way jq would make them.
type planDoc struct {
	header string
	body   map[string]any
}

func readPlanDoc(t *testing.T, path string) planDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, body, ok := strings.Cut(string(b), "\n")
	if !ok {
		t.Fatalf("%s has no header line", path)
	}
	d := planDoc{header: header}
	if err := json.Unmarshal([]byte(body), &d.body); err != nil {
		t.Fatal(err)
	}
	return d
}

// write writes the edited plan: with the original header (its digest no
// longer matches), or sealed again with a header that matches the edit.
func (d planDoc) write(t *testing.T, path string, reseal bool, pad int) {
	t.Helper()
	body, err := json.MarshalIndent(d.body, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	body = append(append(body, '\n'), bytes.Repeat([]byte(" "), pad)...)
	header := d.header
	if reseal {
		sum := sha256.Sum256(body)
		header = fmt.Sprintf(`{"format":"tlreconcile-plan","format_version":"2","bytes":%d,"sha256":%q}`, len(body), hex.EncodeToString(sum[:]))
	}
	if err := os.WriteFile(path, append([]byte(header+"\n"), body...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (d planDoc) changes() []any { return d.body["changes"].([]any) }

// change returns the change of resource, failing when the plan has none.
func (d planDoc) change(t *testing.T, resource string) map[string]any {
	t.Helper()
	for _, c := range d.changes() {
		if m := c.(map[string]any); m["resource"] == resource {
			return m
		}
	}
	t.Fatalf("the plan has no change for %s", resource)
	return nil
}

func step(id, op, vm string, deps []string, extra map[string]any) map[string]any {
	s := map[string]any{"id": id, "op": op, "cluster": "c1", "vm": vm, "depends_on": deps, "reason": "edited in"}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// TestApplyRefusesEditedPlanFiles makes each plan-file edit an operator (or
// a script with jq) could make, and checks that apply PLANFILE refuses it,
// saying what differs, and leaves every VM byte for byte as it was: with the
// digest left as it was, and with the file sealed again to match the edit.
func TestApplyRefusesEditedPlanFiles(t *testing.T) {
	e := newApplyEnv(t)
	write := func(yaml string) {
		if err := os.WriteFile(filepath.Join(e.dir, "desired.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(planFileYAML("node1", 2))
	e.mustApply()
	e.sim("local-vm", "--cluster", "c1", "--vm", "wild", "--node", "node1")
	// The reviewed plan moves mover to node2 and resizes resize (stop, set, start).
	write(planFileYAML("node2", 4))
	reviewed := e.savePlan()
	before := e.simFiles()

	ann := map[string]any{"managed_by": drivers.ManagedBy, "spec_hash": "x", "protect": false, "vtpm_identity": "", "node": "node1"}
	tests := []struct {
		name  string
		edit  func(t *testing.T, d planDoc) planDoc
		flags []string
		want  string // in the refusal of the resealed file
	}{
		{"protect released by one change, vTPM disabled by another", func(t *testing.T, d planDoc) planDoc {
			d.body["changes"] = append(d.changes(),
				map[string]any{"resource": "vm/prot", "cluster": "c1", "action": "update", "steps": []any{
					step("vm/prot/set-annotations", "set-annotations", "prot", []string{}, map[string]any{"params": map[string]any{"annotations": ann}})}},
				map[string]any{"resource": "vm/prot", "cluster": "c1", "action": "update", "steps": []any{
					step("vm/prot/stop-vm", "stop-vm", "prot", []string{}, nil),
					step("vm/prot/disable-tpm", "disable-tpm", "prot", []string{"vm/prot/stop-vm"}, map[string]any{"destructive": true})}})
			return d
		}, []string{"--allow-destructive"}, "vm/prot: two changes for one resource"},
		{"protect released and vTPM disabled in one change", func(t *testing.T, d planDoc) planDoc {
			d.body["changes"] = append(d.changes(),
				map[string]any{"resource": "vm/prot", "cluster": "c1", "action": "update", "steps": []any{
					step("vm/prot/set-annotations", "set-annotations", "prot", []string{}, map[string]any{"params": map[string]any{"annotations": ann}}),
					step("vm/prot/stop-vm", "stop-vm", "prot", []string{"vm/prot/set-annotations"}, nil),
					step("vm/prot/disable-tpm", "disable-tpm", "prot", []string{"vm/prot/stop-vm"}, map[string]any{"destructive": true})}})
			return d
		}, []string{"--allow-destructive"}, "vm/prot: the file has a change (update) that planning again does not make"},
		{"unmanaged VM adopted, then deleted", func(t *testing.T, d planDoc) planDoc {
			d.body["changes"] = append(d.changes(),
				map[string]any{"resource": "vm/wild", "cluster": "c1", "action": "delete", "steps": []any{
					step("vm/wild/set-annotations", "set-annotations", "wild", []string{}, map[string]any{"params": map[string]any{"annotations": ann}}),
					step("vm/wild/stop-vm", "stop-vm", "wild", []string{"vm/wild/set-annotations"}, nil),
					step("vm/wild/delete-vm", "delete-vm", "wild", []string{"vm/wild/stop-vm"}, map[string]any{"destructive": true})}})
			return d
		}, []string{"--allow-destructive"}, "vm/wild: the file has a change (delete) that planning again does not make"},
		{"unmanaged VM stopped and resized, no flag", func(t *testing.T, d planDoc) planDoc {
			d.body["changes"] = append(d.changes(),
				map[string]any{"resource": "vm/wild", "cluster": "c1", "action": "update", "steps": []any{
					step("vm/wild/stop-vm", "stop-vm", "wild", []string{}, nil),
					step("vm/wild/set-hardware", "set-hardware", "wild", []string{"vm/wild/stop-vm"}, map[string]any{"params": map[string]any{"processors": 8, "memory_mb": 4096}}),
					step("vm/wild/start-vm", "start-vm", "wild", []string{"vm/wild/set-hardware"}, nil)}})
			return d
		}, nil, "vm/wild: the file has a change (update) that planning again does not make"},
		{"live migration to a node nobody reviewed", func(t *testing.T, d planDoc) planDoc {
			for _, s := range d.change(t, "vm/mover")["steps"].([]any) {
				if m := s.(map[string]any); m["op"] == "move-vm" {
					m["params"].(map[string]any)["target_node"] = "node3"
				}
			}
			return d
		}, nil, `vm/mover: step vm/mover/move-vm: params.target_node is "node3" in the file, planning again gives "node2"`},
		{"start-vm dropped", func(t *testing.T, d planDoc) planDoc {
			c := d.change(t, "vm/resize")
			var kept []any
			for _, s := range c["steps"].([]any) {
				m := s.(map[string]any)
				switch m["op"] {
				case "start-vm":
					continue
				case "set-annotations":
					m["depends_on"] = []string{"vm/resize/set-hardware"}
				}
				kept = append(kept, m)
			}
			c["steps"] = kept
			return d
		}, nil, "vm/resize: the file lacks step vm/resize/start-vm (start-vm)"},
	}
	for _, tt := range tests {
		for _, reseal := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/resealed=%v", tt.name, reseal), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "plan.json")
				tt.edit(t, readPlanDoc(t, reviewed)).write(t, path, reseal, 0)
				want := "it was changed after `tlreconcile plan -out` wrote it"
				if reseal {
					want = tt.want
				}
				e.refused(t, path, tt.flags, want, before)
			})
		}
	}
	t.Run("padded to 200 MB", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "plan.json")
		readPlanDoc(t, reviewed).write(t, path, false, 200<<20)
		e.refused(t, path, nil, "it is longer than the", before)
		readPlanDoc(t, reviewed).write(t, path, true, 200<<20)
		e.refused(t, path, nil, "its header announces 209", before)
	})
	t.Run("the reviewed plan itself applies", func(t *testing.T) {
		if out, errOut, code := e.run("apply", reviewed); code != 0 {
			t.Fatalf("apply of the untouched plan: exit %d\n%s\n%s", code, out, errOut)
		}
		if vm := e.vm("mover"); vm.Node != "node2" {
			t.Errorf("mover is on %s, want node2", vm.Node)
		}
		if vm := e.vm("wild"); vm.Annotations != nil || vm.Power != drivers.PowerRunning {
			t.Errorf("the unmanaged VM was touched: %+v", vm)
		}
	})
}

// refused runs apply PLANFILE and checks that it exits 1 naming want and
// that the sim's files are as they were.
func (e *applyEnv) refused(t *testing.T, path string, flags []string, want string, before map[string]string) {
	t.Helper()
	out, errOut, code := e.run(append([]string{"apply", path}, flags...)...)
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut+out, "nothing was applied") {
		t.Fatalf("apply of the edited plan: exit %d, want 1 saying %q and that nothing was applied\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
	}
	after := e.simFiles()
	for path, b := range before {
		if after[path] != b {
			t.Errorf("%s changed although apply refused the plan", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s appeared although apply refused the plan", path)
		}
	}
}

// TestSIGKILLDuringReplaceResumesFromPlanFile: an apply is killed with
// SIGKILL during a planned replace (a Standard VM made trusted-launch: a new
// vTPM), while the create runs, and after it, before the new identity is
// recorded; the resume goes through `plan -out` and `apply PLANFILE`. The
// plan reads the journal, so it reports no vtpm-state-lost; apply records
// the new identity and exits 0 only once the clusters match.
func TestSIGKILLDuringReplaceResumesFromPlanFile(t *testing.T) {
	tests := []struct {
		name      string
		slow      string // the ARM operation the kill lands in
		completed bool   // wait for the create to complete first
	}{
		{"killed while the create runs", armCreate, false},
		{"killed after the create, before the identity is recorded", "Machines_Update", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newApplyEnv(t, vmDoc{name: "a", standard: true})
			e.mustApply()
			old := e.vm("a").VTPMIdentity
			e.write(vmDoc{name: "a"})
			e.inject("--operation", tt.slow, "--latency", "5s")
			cmd := e.command("apply", "-f", e.dir, "--auto-approve", "--allow-destructive")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			e.waitJournal(t, cmd, func(en apply.Entry) bool {
				return en.Op == drivers.OpCreateVM && en.Pending != tt.completed
			})
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			e.clearFaults()
			if tt.completed && e.vm("a").VTPMIdentity == old {
				t.Fatal("the create had not completed when the kill landed")
			}

			if out, errOut, code := e.run("show", "-f", e.dir); code != 0 || strings.Contains(out+errOut, plan.RuleVTPMStateLost) {
				t.Fatalf("show after the kill: exit %d, want 0 and no vtpm-state-lost (issue 14 item 8)\n%s\n%s", code, out, errOut)
			}
			planFile := filepath.Join(t.TempDir(), "plan.json")
			out, errOut, code := e.run("plan", "-f", e.dir, "-out", planFile)
			if code != 0 || strings.Contains(out+errOut, plan.RuleVTPMStateLost) || strings.Contains(out, "vTPM state lost") {
				t.Fatalf("plan -out after the kill: exit %d, want 0 and no vtpm-state-lost\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "resuming: the journal holds") {
				t.Errorf("plan did not say it reads an interrupted run's journal:\n%s", errOut)
			}
			if strings.Contains(out, "changed outside tlreconcile") {
				t.Errorf("plan blames a change outside tlreconcile for what the interrupted apply left:\n%s", out)
			}
			out, errOut, code = e.run("apply", planFile, "--allow-destructive")
			if code != 0 || strings.Contains(out+errOut, plan.RuleVTPMStateLost) {
				t.Fatalf("apply PLANFILE: exit %d, want 0 and no vtpm-state-lost\n%s\n%s", code, out, errOut)
			}
			vm := e.vm("a")
			if vm.VTPMIdentity == old || vm.Annotations == nil || vm.Annotations.VTPMIdentity != vm.VTPMIdentity ||
				vm.SecurityType != spec.SecurityTrustedLaunch || vm.Power != drivers.PowerRunning {
				t.Errorf("after the resume: identity %s (old %s), recorded %+v, %s, %s; want the new identity recorded, TrustedLaunch, Running",
					drivers.Identity(vm.VTPMIdentity).Short(), drivers.Identity(old).Short(), vm.Annotations, vm.SecurityType, vm.Power)
			}
			if out, errOut, code := e.run("plan", "-f", e.dir, "--detailed-exitcode"); code != 0 {
				t.Errorf("not converged after apply PLANFILE exited 0: plan exit %d\n%s\n%s", code, out, errOut)
			}
			if entries, _ := apply.ReadJournalFile(e.state); len(entries) != 0 {
				t.Errorf("the journal holds %d entries after the converged run", len(entries))
			}
		})
	}
}

// waitJournal waits until the running cmd's journal has an entry that
// matches, and kills cmd and fails when it never does.
func (e *applyEnv) waitJournal(t *testing.T, cmd *exec.Cmd, match func(apply.Entry) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _ := apply.ReadJournalFile(e.state)
		for _, en := range entries {
			if match(en) {
				return
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the journal never showed the entry waited for: %+v", entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
