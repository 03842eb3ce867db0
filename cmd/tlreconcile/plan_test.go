package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// runRoot runs the root command in the current directory; tests chdir to the
// repository root once first (t.Chdir("../..")).
func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name string
		o    planOptions
		want string
	}{
		{"no input", planOptions{format: "text"}, "no input"},
		{"bad format", planOptions{filenames: []string{"x"}, format: "yaml"}, `--format "yaml"`},
		{"bad target", planOptions{filenames: []string{"x"}, format: "text", targets: []string{"avd-01"}}, `--target "avd-01"`},
		{"out over observed", planOptions{filenames: []string{"x"}, format: "text", out: "o.json", observedFile: "o.json"}, "would overwrite"},
		{"accept without vm/", planOptions{filenames: []string{"x"}, format: "text", acceptIdentity: []string{"avd-01"}}, `--accept-vtpm-identity "avd-01": write vm/NAME`},
		{"accept a node", planOptions{filenames: []string{"x"}, format: "text", acceptIdentity: []string{"node/n1"}}, `--accept-vtpm-identity "node/n1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	ok := planOptions{filenames: []string{"x"}, format: "markdown", targets: []string{"vm/a", "node/n1"}, acceptIdentity: []string{"vm/a"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestTerraformStyleOut(t *testing.T) {
	got := terraformStyleOut([]string{"-f", "x", "-out", "p.json", "-out=q.json", "--", "-out"})
	want := "-f x --out p.json --out=q.json -- -out"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, " "), want)
	}
}

// TestPlanApplyConverges runs the real commands against a fresh sim cluster:
// the plan has changes (exit 2), its saved file is a valid plan, applying it
// converges, and the next plan is empty (exit 0).
func TestPlanApplyConverges(t *testing.T) {
	t.Chdir("../..")
	state := t.TempDir()
	planFile := filepath.Join(state, "plan.json")
	out, err := runRoot(t, "--state-dir", state, "plan", "-f", "examples/basic", "-out", planFile, "--detailed-exitcode", "--no-color")
	if code := exitCodeOf(err); code != 2 {
		t.Fatalf("first plan exit %d (%v), want 2:\n%s", code, err, out)
	}
	if !strings.Contains(out, "Plan: 3 to create") {
		t.Errorf("first plan does not create the three VMs:\n%s", out)
	}
	f, err := os.Open(planFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Read(f)
	f.Close()
	if err != nil {
		t.Fatalf("saved plan: %v", err)
	}
	if p.PlannedAt.IsZero() || p.DesiredHash == "" || len(p.Observed) == 0 {
		t.Errorf("saved plan lacks planned_at, desired_hash or fingerprints")
	}
	if out, err := runRoot(t, "--state-dir", state, "apply", planFile); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	out, err = runRoot(t, "--state-dir", state, "plan", "-f", "examples/basic", "--detailed-exitcode", "--format", "json")
	if code := exitCodeOf(err); code != 0 {
		t.Fatalf("plan after apply exit %d (%v), want 0:\n%s", code, err, out)
	}
	p = &plan.Plan{}
	if err := json.Unmarshal([]byte(out), p); err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 0 || p.Summary.Noop != 3 {
		t.Errorf("plan after apply: %d changes, %d noop; want 0 and 3", len(p.Changes), p.Summary.Noop)
	}
}

// TestPlanObservedSnapshot plans from a show --format json snapshot: every
// view says where the observation came from.
func TestPlanObservedSnapshot(t *testing.T) {
	t.Chdir("../..")
	state := t.TempDir()
	snap, err := runRoot(t, "--state-dir", state, "show", "-f", "examples/basic", "--format", "json")
	if err != nil {
		t.Fatalf("show: %v", err)
	}
	file := filepath.Join(t.TempDir(), "observed.json")
	if err := os.WriteFile(file, []byte(snap), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "markdown"} {
		out, err := runRoot(t, "--state-dir", filepath.Join(state, "unused"), "plan", "-f", "examples/basic", "--observed", file, "--format", format)
		if err != nil {
			t.Fatalf("plan --observed (%s): %v", format, err)
		}
		if !strings.Contains(out, "Observed state read from "+file) || !strings.Contains(out, "before planning") {
			t.Errorf("%s plan does not say the observation came from %s and how old it is:\n%s", format, file, out)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "unused")); !os.IsNotExist(err) {
		t.Errorf("plan --observed touched the state dir (stat err %v); it must not observe", err)
	}
	out, err := runRoot(t, "plan", "-f", "examples/basic", "--observed", filepath.Join(t.TempDir(), "missing.json"))
	if err == nil || !strings.Contains(err.Error(), "show --format json") {
		t.Errorf("missing snapshot: err = %v, want one saying how to write it\n%s", err, out)
	}
}

// TestPlanInvalidStopsBeforeObserving: validation errors print diagnostics and
// exit 1 without creating (observing) any cluster.
func TestPlanInvalidStopsBeforeObserving(t *testing.T) {
	state := t.TempDir()
	var out, errOut bytes.Buffer
	t.Chdir("../..")
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs([]string{"--state-dir", state, "plan", "-f", "examples/invalid/boot-integrity-not-available.yaml"})
	err := cmd.Execute()
	if exitCodeOf(err) != 1 || err != errReported {
		t.Fatalf("err = %v, want errReported", err)
	}
	if !strings.Contains(errOut.String(), "error[") {
		t.Errorf("stderr has no diagnostics: %q", errOut.String())
	}
	if ents, _ := os.ReadDir(state); len(ents) != 0 {
		t.Errorf("state dir has %d entries; an invalid spec must not reach the driver", len(ents))
	}
}

func TestShowText(t *testing.T) {
	t.Chdir("../..")
	state := t.TempDir()
	out, err := runRoot(t, "--state-dir", state, "show", "-f", "examples/basic")
	if err != nil {
		t.Fatalf("show: %v", err)
	}
	// driver: sim runs the azurelocal driver; a new simulated cluster holds
	// only the Arc resource bridge, which show marks as infrastructure.
	for _, want := range []string{"cluster/hci-west (driver azurelocal)", "node1", "IGVMAGENT", "hci-west-arcbridge", "infrastructure-vm"} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	if _, err := runRoot(t, "show", "-f", "examples/basic", "--format", "markdown"); err == nil {
		t.Error("show --format markdown: want an error")
	}
}

// TestCIExamplesParse checks every tlreconcile command line in examples/ci
// against the real command tree, so the CI examples cannot drift from the CLI.
func TestCIExamplesParse(t *testing.T) {
	t.Chdir("../..")
	files, err := filepath.Glob("examples/ci/*.yml")
	if err != nil || len(files) < 2 {
		t.Fatalf("CI examples: %v %v", files, err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			fields, ok := exampleArgs(line)
			if !ok || strings.Contains(line, "go install") {
				continue
			}
			var args []string
			for _, f := range fields {
				switch {
				case f == "$extra":
					args = append(args, "--observed", "observed.json")
				case strings.Contains(f, "DESIRED"):
					args = append(args, "desired/")
				case strings.Contains(f, "$("):
					args = append(args, "plan.json")
				default:
					args = append(args, f)
				}
			}
			if len(args) == 0 || !map[string]bool{"validate": true, "plan": true, "show": true, "apply": true}[args[0]] {
				continue
			}
			seen[args[0]] = true
			if _, err := parseCommandLine(args); err != nil {
				t.Errorf("%s: %q: %v", file, strings.TrimSpace(line), err)
			}
		}
	}
	for _, c := range []string{"validate", "plan", "show", "apply"} {
		if !seen[c] {
			t.Errorf("the CI examples never run tlreconcile %s", c)
		}
	}
}
