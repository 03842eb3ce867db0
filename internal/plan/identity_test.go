package plan

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestIdentity(t *testing.T) {
	tests := []struct {
		name              string
		recorded, current string
		accepted          bool
		journaled         string // the identity the journal read after a planned change
		lost              bool
		keep              string
		expect, expectNew string
	}{
		{name: "unchanged", recorded: idA, current: idA, keep: idA, expect: idA},
		{name: "changed and not accepted: lost, keep the verified one", recorded: idA, current: idB, lost: true, keep: idA, expect: idB},
		{name: "changed and accepted", recorded: idA, current: idB, accepted: true, keep: idB, expect: idB},
		{name: "unknown now is never lost", recorded: idA, current: "", keep: idA, expect: idA},
		{name: "nothing recorded yet", recorded: "", current: idB, keep: idB, expect: idB},
		{name: "nothing recorded, the journal read this one", recorded: "", current: idB, journaled: idB, keep: idB, expect: idB},
		{name: "nothing recorded, the journal read another: lost, keep the journal's", recorded: "", current: idB, journaled: idA, lost: true, keep: idA, expect: idB},
		{name: "recorded wins over the journal", recorded: idA, current: idA, journaled: idB, keep: idA, expect: idA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observedVM(desiredVM(), func(o *drivers.VM) { o.Annotations.VTPMIdentity, o.VTPMIdentity = tt.recorded, tt.current })
			id := identityOf(o, func(cur string) bool { return tt.accepted && cur == tt.current }).journaled(tt.journaled)
			if id.lost != tt.lost || id.keep() != tt.keep || id.expect(false) != tt.expect || id.expect(true) != "" {
				t.Errorf("lost %t keep %q expect %q expect(new) %q, want %t %q %q \"\"",
					id.lost, id.keep(), id.expect(false), id.expect(true), tt.lost, tt.keep, tt.expect)
			}
		})
	}
}

func TestIdentityFinding(t *testing.T) {
	tests := []struct {
		name               string
		recordedNode, node string
		recorded, current  string
		accepted           bool
		wantRule           string
		wantSeverity       Severity
		wantIn             string
	}{
		{name: "same node, same identity", recordedNode: "node1", node: "node1", recorded: idA, current: idA},
		{name: "no node recorded", recordedNode: "", node: "node2", recorded: idA, current: idA},
		{name: "lost on the same node", recordedNode: "node1", node: "node1", recorded: idA, current: idB,
			wantRule: RuleVTPMStateLost, wantSeverity: SeverityError, wantIn: "last verified on node node1, now bbbbbbbbbbbb on node node1"},
		{name: "lost after a move is a loss, not a move", recordedNode: "node1", node: "node2", recorded: idA, current: idB,
			wantRule: RuleVTPMStateLost, wantSeverity: SeverityError, wantIn: VTPMStateLostMessage},
		{name: "moved, new identity accepted", recordedNode: "node1", node: "node2", recorded: idA, current: idB, accepted: true,
			wantRule: RuleMovedByCluster, wantSeverity: SeverityInfo, wantIn: "its new vTPM identity bbbbbbbbbbbb was accepted"},
		{name: "moved, identity unchanged", recordedNode: "node1", node: "node2", recorded: idA, current: idA,
			wantRule: RuleMovedByCluster, wantSeverity: SeverityInfo, wantIn: "its vTPM identity is unchanged"},
		{name: "moved, identity unreadable", recordedNode: "node1", node: "node2", recorded: idA, current: "",
			wantRule: RuleMovedByCluster, wantSeverity: SeverityInfo, wantIn: "cannot be read there yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := observedVM(desiredVM(), func(o *drivers.VM) {
				o.Node, o.VTPMIdentity = tt.node, tt.current
				o.Annotations.Node, o.Annotations.VTPMIdentity = tt.recordedNode, tt.recorded
			})
			f := identityFinding("vm/a", "c1", o, identityOf(o, func(string) bool { return tt.accepted }))
			switch {
			case tt.wantRule == "" && f != nil:
				t.Fatalf("finding %+v, want none", f)
			case tt.wantRule == "":
			case f == nil:
				t.Fatalf("no finding, want %s", tt.wantRule)
			case f.Rule != tt.wantRule || f.Severity != tt.wantSeverity || f.Resource != "vm/a" || f.Cluster != "c1" || !strings.Contains(f.Message, tt.wantIn):
				t.Errorf("finding %+v, want %s %s containing %q", f, tt.wantSeverity, tt.wantRule, tt.wantIn)
			}
		})
	}
}
