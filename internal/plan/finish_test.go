package plan

import (
	"fmt"
	"strings"
	"testing"
)

func TestKeepTargeted(t *testing.T) {
	change := func(res string, steps ...Step) Change { return Change{Resource: res, Steps: steps} }
	step := func(id string, deps ...string) Step { return Step{ID: id, DependsOn: deps} }
	changes := func() []Change {
		return []Change{
			change("node/n1", step("node/n1/start-igvm-agent")),
			change("node/n2", step("node/n2/enable-migration-ipsec")),
			change("vm/a", step("vm/a/move-vm", "node/n1/start-igvm-agent")),
			change("vm/b", step("vm/b/start-vm")),
		}
	}
	tests := []struct {
		name    string
		targets []string
		want    string
	}{
		{name: "a VM and the node change it waits for", targets: []string{"vm/a"}, want: "node/n1 vm/a"},
		{name: "a VM that waits for nothing", targets: []string{"vm/b"}, want: "vm/b"},
		{name: "a node alone", targets: []string{"node/n2"}, want: "node/n2"},
		{name: "a target with no change", targets: []string{"vm/c"}, want: ""},
		{name: "several", targets: []string{"vm/a", "vm/b"}, want: "node/n1 vm/a vm/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := map[string]bool{}
			for _, r := range tt.targets {
				targets[r] = true
			}
			var got []string
			for _, c := range keepTargeted(changes(), targets) {
				got = append(got, c.Resource)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("kept %v, want %s", got, tt.want)
			}
		})
	}
}

func TestSortChanges(t *testing.T) {
	changes := []Change{
		{Resource: "vm/b", Cluster: "c1"}, {Resource: "vm/a", Cluster: "c2"}, {Resource: "node/n1", Cluster: "c1"},
		{Resource: "vm/a", Cluster: "c1"}, {Resource: "cluster/c1", Cluster: "c1"}, {Resource: "node/n0", Cluster: "c2"},
	}
	sortChanges(changes)
	var got []string
	for _, c := range changes {
		got = append(got, c.Cluster+":"+c.Resource)
	}
	want := "c1:cluster/c1 c2:node/n0 c1:node/n1 c1:vm/a c2:vm/a c1:vm/b"
	if strings.Join(got, " ") != want {
		t.Errorf("order:\n%s\nwant:\n%s", strings.Join(got, " "), want)
	}
}

func TestSortFindings(t *testing.T) {
	findings := []Finding{
		{Severity: SeverityInfo, Resource: "vm/a", Rule: "r1", Cluster: "c1", Message: "m"},
		{Severity: SeverityWarning, Resource: "vm/b", Rule: "r1", Cluster: "c1", Message: "m"},
		{Severity: SeverityWarning, Resource: "vm/a", Rule: "r2", Cluster: "c1", Message: "m"},
		{Severity: SeverityWarning, Resource: "vm/a", Rule: "r1", Cluster: "c2", Message: "m"},
		{Severity: SeverityWarning, Resource: "vm/a", Rule: "r1", Cluster: "c1", Message: "n"},
		{Severity: SeverityWarning, Resource: "vm/a", Rule: "r1", Cluster: "c1", Message: "m"},
		{Severity: SeverityError, Resource: "vm/z", Rule: "r9", Cluster: "c9", Message: "z"},
	}
	sortFindings(findings)
	var got []string
	for _, f := range findings {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", f.Severity, f.Resource, f.Rule, f.Cluster, f.Message))
	}
	want := strings.Join([]string{
		"error vm/z r9 c9 z",
		"warning vm/a r1 c1 m",
		"warning vm/a r1 c1 n",
		"warning vm/a r1 c2 m",
		"warning vm/a r2 c1 m",
		"warning vm/b r1 c1 m",
		"info vm/a r1 c1 m",
	}, "\n")
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("order:\n%s\nwant:\n%s", g, want)
	}
}

func TestCount(t *testing.T) {
	blocked := []Step{{ID: "x"}, {ID: "y", Blocked: &Blocked{Code: BlockProtected}}}
	changes := []Change{
		{Action: ActionCreate}, {Action: ActionUpdate}, {Action: ActionUpdate, Steps: blocked},
		{Action: ActionReplace, Steps: blocked}, {Action: ActionDelete},
	}
	var s Summary
	for i := range changes {
		count(&s, &changes[i])
	}
	want := Summary{Create: 1, Update: 2, Replace: 1, Delete: 1, Blocked: 2}
	if s != want {
		t.Errorf("summary %+v, want %+v", s, want)
	}
}

func TestNoNulls(t *testing.T) {
	c := &Change{Steps: []Step{{ID: "a"}, {ID: "b", DependsOn: []string{"a"}}}}
	noNulls(c)
	if c.Reasons == nil || c.Steps[0].DependsOn == nil || len(c.Steps[1].DependsOn) != 1 {
		t.Errorf("noNulls left %+v", c)
	}
}
