package plan_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestPlacementRule: placement.node moves a VM that is elsewhere, live when
// it keeps running, quick when it is stopped anyway, after the target node
// can run it.
func TestPlacementRule(t *testing.T) {
	on := func(node string) func(*spec.VM) { return func(v *spec.VM) { v.Placement.Node = node } }
	tests := []struct {
		name      string
		vm        spec.VM
		observed  func(*drivers.VM)
		nodes     func([]drivers.Node)
		want      string // the move-vm step as "MIGRATION <- DEPS [FLAGS]"; "" for none
		wantDrift string
	}{
		{name: "already there", vm: vmSpec("a", on("node1"))},
		{name: "no placement", vm: vmSpec("a")},
		{name: "running, nothing Off-only: live", vm: vmSpec("a", on("node2")), want: "Live",
			wantDrift: "node is node1, want node2 (placement.node)"},
		{name: "live after the IPsec this plan enables on both nodes", vm: vmSpec("a", on("node2")),
			nodes: func(n []drivers.Node) { n[0].MigrationIPsec, n[1].MigrationIPsec = false, false },
			want:  "Live <- node/node1/enable-migration-ipsec,node/node2/enable-migration-ipsec"},
		{name: "stopped for an Off-only change: quick, before the start", vm: vmSpec("a", on("node2")),
			observed: func(o *drivers.VM) { o.Processors = 2 }, want: "Quick <- vm/a/set-processor"},
		{name: "off: quick", vm: vmSpec("a", on("node2"), func(v *spec.VM) { v.Power = spec.PowerOff }),
			observed: func(o *drivers.VM) { o.Power = drivers.PowerOff }, want: "Quick"},
		{name: "target down: blocked", vm: vmSpec("a", on("node2")),
			nodes: func(n []drivers.Node) { n[1].State = drivers.NodeDown }, want: "Live [BLOCKED node-not-ready]"},
		{name: "target's agent stopped: after its start", vm: vmSpec("a", on("node2")),
			nodes: func(n []drivers.Node) { n[1].IgvmAgent = drivers.AgentStopped }, want: "Live <- node/node2/start-igvm-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := healthyNodes()
			if tt.nodes != nil {
				tt.nodes(nodes)
			}
			o := synced(tt.vm, "node1", id1, func(o *drivers.VM) { o.Annotations.Node = "node1" })
			o.Annotations.SpecHash = "old"
			if tt.observed != nil {
				tt.observed(&o)
			}
			p := mustBuild(t, desiredOf(clusterSpec(), tt.vm), observedOf(nodes, o), plan.Options{})
			got := ""
			if s := findStep(p, "vm/a/move-vm"); s != nil {
				got = describeMove(s)
				if s.Op.Params.TargetNode != tt.vm.Placement.Node {
					t.Errorf("target %s, want %s", s.Op.Params.TargetNode, tt.vm.Placement.Node)
				}
				if a := findStep(p, "vm/a/set-annotations"); a == nil || a.Op.Params.Annotations.Node != tt.vm.Placement.Node {
					t.Errorf("set-annotations %+v does not record node %s", a, tt.vm.Placement.Node)
				}
			}
			if got != tt.want {
				t.Errorf("move = %q, want %q\n%s", got, tt.want, render(p))
			}
			if tt.wantDrift != "" && (len(p.Changes) == 0 || !contains(p.Changes[len(p.Changes)-1].Reasons, tt.wantDrift)) {
				t.Errorf("reasons %v, want %q", p.Changes, tt.wantDrift)
			}
		})
	}
}

func describeMove(s *plan.Step) string {
	out := s.Op.Params.MigrationType
	var deps []string
	for _, d := range s.DependsOn {
		if d != "" {
			deps = append(deps, d)
		}
	}
	if len(deps) > 0 {
		out += " <- " + strings.Join(deps, ",")
	}
	if s.Blocked != nil {
		out += " [BLOCKED " + string(s.Blocked.Code) + "]"
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFileAccessRule: a VM whose files are readable by more than host
// administrators is restricted first, or reported when the cluster ignores it.
func TestFileAccessRule(t *testing.T) {
	violation := func(o *drivers.VM) { o.FileAccess = drivers.FileAccessViolation }
	tests := []struct {
		name   string
		access string
		mut    func(*drivers.VM)
		want   string
	}{
		{name: "host admins only", access: "hostAdminsOnly", want: "summary create=0 update=0 replace=0 delete=0 noop=1 blocked=0\n"},
		{name: "violation, enforced: restrict it", access: "hostAdminsOnly", mut: violation, want: `update vm/a
  vm/a/restrict-file-access
  vm/a/set-annotations <- vm/a/restrict-file-access
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`},
		{name: "violation, ignored: a warning only", access: "ignore", mut: violation, want: `finding warning file-access-violation vm/a
summary create=0 update=0 replace=0 delete=0 noop=1 blocked=0
`},
		{name: "restricted before the power window", access: "hostAdminsOnly", mut: func(o *drivers.VM) { violation(o); o.Processors = 2 }, want: `update vm/a
  vm/a/restrict-file-access
  vm/a/stop-vm <- vm/a/restrict-file-access [disruptive]
  vm/a/set-processor <- vm/a/stop-vm [off]
  vm/a/start-vm <- vm/a/set-processor [disruptive]
  vm/a/set-annotations <- vm/a/start-vm
summary create=0 update=1 replace=0 delete=0 noop=0 blocked=0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clusterSpec(func(c *spec.Cluster) { c.VMFileAccess = tt.access })
			o := synced(vmSpec("a"), "node1", id1)
			if tt.mut != nil {
				tt.mut(&o)
			}
			p := mustBuild(t, desiredOf(c, vmSpec("a")), observedOf(healthyNodes(), o), plan.Options{})
			if got := render(p); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// TestDriftCause: a difference is blamed on a change outside tlreconcile
// only when the YAML is what tlreconcile last applied.
func TestDriftCause(t *testing.T) {
	tests := []struct {
		name     string
		specHash string // "" keeps the VM's hash
		resumed  bool   // an interrupted apply's journal holds steps of the VM
		want     []string
	}{
		{name: "YAML unchanged: changed outside tlreconcile", want: []string{
			"processors is 2, want 4 (changed outside tlreconcile)", "power is Off, want Running (changed outside tlreconcile)"}},
		{name: "YAML edited: no cause is claimed", specHash: "old", want: []string{
			"processors is 2, want 4", "power is Off, want Running"}},
		{name: "an interrupted apply left it part-done", resumed: true, want: []string{
			"processors is 2, want 4 (left part-done by an interrupted tlreconcile apply)",
			"power is Off, want Running (left part-done by an interrupted tlreconcile apply)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := synced(vmSpec("a"), "node1", id1, func(o *drivers.VM) { o.Processors, o.Power = 2, drivers.PowerOff })
			if tt.specHash != "" {
				o.Annotations.SpecHash = tt.specHash
			}
			opts := plan.Options{}
			if tt.resumed {
				opts.Resumed = map[string]bool{"vm/c1/a": true}
			}
			p := mustBuild(t, desiredOf(clusterSpec(), vmSpec("a")), observedOf(healthyNodes(), o), opts)
			if len(p.Changes) != 1 || strings.Join(p.Changes[0].Reasons, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("reasons:\n%v\nwant:\n%v", p.Changes, tt.want)
			}
		})
	}
}
