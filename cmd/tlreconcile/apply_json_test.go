package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/apply"
)

// TestApplyJSONNoChanges: with --format json every stdout line is a JSON
// event, also when nothing changes, from YAML and from a plan file: a
// run-started and run-finished pair with an empty report. Before, both
// printed apply.NoChangesMessage as text and
// `| jq .` failed.
func TestApplyJSONNoChanges(t *testing.T) {
	e := newApplyEnv(t, vmDoc{name: "a"})
	e.mustApply()
	tests := []struct {
		name string
		args []string
	}{
		{"from YAML", []string{"apply", "-f", e.dir, "--auto-approve", "--format", "json"}},
		{"from a plan file", []string{"apply", e.savePlan(), "--format", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := e.run(tt.args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			var kinds []string
			var last apply.Event
			for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if err := json.Unmarshal([]byte(line), &last); err != nil {
					t.Fatalf("stdout line %d is not JSON: %v\n%s", i+1, err, out)
				}
				kinds = append(kinds, string(last.Kind))
			}
			if got := strings.Join(kinds, ","); got != "run-started,run-finished" {
				t.Errorf("events %s, want run-started,run-finished", got)
			}
			if last.Report == nil || last.Report.Resources == nil || len(last.Report.Resources) != 0 || last.Message != apply.NoChangesMessage {
				t.Errorf("run-finished %+v, want an empty report and %q", last, apply.NoChangesMessage)
			}
			if !strings.Contains(out, `"resources":[]`) {
				t.Errorf("resources is not []:\n%s", out)
			}
		})
	}
}
