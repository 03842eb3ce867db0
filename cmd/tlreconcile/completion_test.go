package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// complete runs cobra's hidden __complete command, as the shell scripts from
// `tlreconcile completion` do, and returns the candidates and the directive
// line.
func complete(t *testing.T, args ...string) (candidates []string, directive string) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &out, &errOut)
	root.SetArgs(append([]string{"__complete"}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %v: %v\n%s", args, err, errOut.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		candidates = append(candidates, strings.SplitN(l, "\t", 2)[0])
	}
	return candidates, directive
}

// TestFlagValueCompletion: flags with fixed values complete to them, also on
// plan, which disables cobra's flag parsing (for -out FILE) and with it cobra's
// own flag-value completion.
func TestFlagValueCompletion(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string // the candidates, joined by spaces
		dir  string
	}{
		{name: "plan --format", args: []string{"plan", "--format", ""}, want: "text json markdown", dir: ":4"},
		{name: "plan --format after -f", args: []string{"plan", "-f", "examples/basic", "--format", ""}, want: "text json markdown", dir: ":4"},
		{name: "plan --format=", args: []string{"plan", "--format="}, want: "--format=text --format=json --format=markdown", dir: ":4"},
		{name: "plan -f takes YAML files", args: []string{"plan", "-f", ""}, want: "yaml yml", dir: ":8"},
		{name: "plan --observed takes JSON files", args: []string{"plan", "-out", "p.json", "--observed", ""}, want: "json", dir: ":8"},
		{name: "plan after a bool flag takes no argument", args: []string{"plan", "--prune", ""}, want: "", dir: ":4"},
		{name: "sim arm-fault --operation", args: []string{"sim", "arm-fault", "--operation", ""}, want: strings.Join(arm.Operations(), " ") + " *", dir: ":4"},
		{name: "apply --format", args: []string{"apply", "--format", ""}, want: "text json", dir: ":4"},
		{name: "version --format", args: []string{"version", "--format", ""}, want: "text json", dir: ":4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, dir := complete(t, tc.args...)
			if strings.Join(got, " ") != tc.want || dir != tc.dir {
				t.Errorf("tlreconcile __complete %q = %q %s, want %q %s", tc.args, got, dir, tc.want, tc.dir)
			}
		})
	}
	// Flag names still complete on plan.
	if got, _ := complete(t, "plan", "--fo"); !strings.Contains(strings.Join(got, " "), "--format") {
		t.Errorf("plan --fo<TAB> = %q, want --format among them", got)
	}
}
