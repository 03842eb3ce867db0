package main

import (
	"strings"
	"testing"
)

// TestExamplesApplyThenPlanIsEmpty is the acceptance path a new user walks:
// every runnable example applies on a fresh sim cluster, and the next
// `plan --detailed-exitcode` exits 0 (nothing left to change).
func TestExamplesApplyThenPlanIsEmpty(t *testing.T) {
	for _, example := range []string{"../../examples/basic", "../../examples/avd-pool"} {
		t.Run(example, func(t *testing.T) {
			e := &applyEnv{t: t, state: t.TempDir()}
			out, errOut, code := e.run("plan", "-f", example, "--detailed-exitcode")
			if code != 2 {
				t.Fatalf("first plan exited %d, want 2 (changes)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			out, errOut, code = e.run("apply", "-f", example, "--auto-approve")
			if code != 0 || !strings.Contains(out, " 0 failed, 0 skipped, 0 blocked.") {
				t.Fatalf("apply exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			out, errOut, code = e.run("plan", "-f", example, "--detailed-exitcode")
			if code != 0 || !strings.Contains(out, "No changes") {
				t.Fatalf("plan after apply exited %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
		})
	}
}
